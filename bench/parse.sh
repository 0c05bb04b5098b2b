#!/usr/bin/env bash
# Parser throughput benchmark: `accesslog-pubsub parse --format combined` against `wc -l`.
#
# Usage: bench/parse.sh            (from the repository root)
#
# Builds the release binary, generates (or reuses) a 2,000,000-line combined log and a
# 200,000-line one in target/bench/, runs each command 5 times pinned to CPU 0 (when taskset
# exists) and prints a Markdown table of medians (and the best run): lines/s, CPU ns per line
# (user+sys), peak RSS, the ratios to `wc -l`, and the peak RSS on the 10x smaller input
# (memory must be flat).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=5
LINES=2000000
SMALL_LINES=200000
BINARY=target/release/accesslog-pubsub

ensure_gnu_time
cargo build --release --quiet
big=$(log_file "$LINES")
small=$(log_file "$SMALL_LINES")

pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c 0)
fi

# Not timed: the parser must emit one record per input line, or its speed means nothing.
records=$("$BINARY" parse --format combined <"$small" | wc -l)
if [[ $records -ne $SMALL_LINES ]]; then
    echo "parse emitted $records records for $SMALL_LINES lines" >&2
    exit 1
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

for _ in $(seq "$RUNS"); do
    timed "$results/wc" "$big" "${pin[@]}" wc -l
    timed "$results/parse" "$big" "${pin[@]}" "$BINARY" parse --format combined
    timed "$results/parse-small" "$small" "${pin[@]}" "$BINARY" parse --format combined
done

read -r wc_wall wc_cpu wc_rss <<<"$(medians "$results/wc")"
read -r p_wall p_cpu p_rss <<<"$(medians "$results/parse")"
read -r _ _ small_rss <<<"$(medians "$results/parse-small")"
read -r best_wall best_cpu <<<"$(bests "$results/parse")"

python3 - "$LINES" "$SMALL_LINES" "$wc_wall" "$wc_cpu" "$wc_rss" "$p_wall" "$p_cpu" "$p_rss" "$small_rss" "${#pin[@]}" "$RUNS" "$best_wall" "$best_cpu" <<'EOF'
import sys
lines, small_lines = int(sys.argv[1]), int(sys.argv[2])
wc_wall, wc_cpu, wc_rss, p_wall, p_cpu, p_rss, small_rss = map(float, sys.argv[3:10])
pinned = sys.argv[10] != "0"
best_wall, best_cpu = float(sys.argv[12]), float(sys.argv[13])

def rate(wall):
    return lines / wall if wall > 0 else float("inf")

print("## Parser benchmark: %d combined lines, median of %s runs%s" % (lines, sys.argv[11], ", pinned to CPU 0" if pinned else ""))
print()
print("| command | wall s | lines/s | CPU ns/line | peak RSS MB | target |")
print("|---|---|---|---|---|---|")
print("| `wc -l` | %.3f | %.0f | %.1f | %.1f | reference |" % (wc_wall, rate(wc_wall), wc_cpu / lines * 1e9, wc_rss / 1024))
print("| `accesslog-pubsub parse --format combined` | %.3f | %.0f | %.1f | %.1f | >= 1,500,000 lines/s, < 600 ns/line |"
      % (p_wall, rate(p_wall), p_cpu / lines * 1e9, p_rss / 1024))
print("| same, best run | %.3f | %.0f | %.1f | | |" % (best_wall, rate(best_wall), best_cpu / lines * 1e9))
print("| same, %d lines | | | | %.1f | flat: same RSS as above |" % (small_lines, small_rss / 1024))
print()
print("- parse / wc -l: wall x%.1f, CPU x%.1f" % (p_wall / max(wc_wall, 1e-3), p_cpu / max(wc_cpu, 1e-3)))
print("- targets judged on the median:")
print("- lines/s: %s (target >= 1.5 M on one core)" % ("met" if rate(p_wall) >= 1.5e6 else "NOT met"))
print("- CPU per line: %s (target < 0.6 us)" % ("met" if p_cpu / lines < 0.6e-6 else "NOT met"))
growth = p_rss / max(small_rss, 1)
print("- memory: %.1f MB on %d lines vs %.1f MB on %d lines: %s"
      % (p_rss / 1024, lines, small_rss / 1024, small_lines, "flat" if growth < 1.25 else "GROWS x%.2f" % growth))
EOF
