#!/usr/bin/env bash
# Spooling benchmark: 1,000,000 combined lines through the piped logger while Pub/Sub is
# unreachable, so every line goes to the disk spool and stays there.
#
# Usage: bench/spool_down.sh [--lines N]        (from the repository root)
#
# The logger publishes to an endpoint where nothing listens (a closed loopback port) and
# exits right after end of input (--shutdown-timeout 0s), leaving everything in its spool;
# `spool status` must then count every line. Reference in the same run: `cat` copying the
# same file into the same directory (the bare cost of reading and writing those bytes).
# Each command runs 3 times; the table shows medians of wall time, lines/s, CPU per line
# (user+sys) and peak RSS.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=3
LINES=1000000
BINARY=target/release/accesslog-pubsub

while [[ $# -gt 0 ]]; do
    case $1 in
    --lines)
        LINES=$2
        shift 2
        ;;
    *)
        echo "usage: bench/spool_down.sh [--lines N]" >&2
        exit 2
        ;;
    esac
done

ensure_gnu_time
cargo build --release --quiet
log=$(log_file "$LINES")
work=$(mktemp -d "$BENCH_DIR/spool-down.XXXXXX")
trap 'rm -rf "$work"' EXIT
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

for run in $(seq "$RUNS"); do
    echo "run $run: cat" >&2
    timed "$work/cat" "$log" sh -c "cat > $work/copy.log"
    rm -f "$work/copy.log"
    echo "run $run: accesslog-pubsub, Pub/Sub unreachable" >&2
    spool="$work/spool-$run"
    # Exit status 1 is expected: the records are left in the spool, unpublished.
    timed "$work/ours" "$log" sh -c "$BINARY --project bench --topic bench-topic \
        --endpoint http://127.0.0.1:$closed_port --spool-dir $spool --shutdown-timeout 0s; \
        test \$? -eq 1"
    spooled=$("$BINARY" spool status --spool-dir "$spool" | sed -n 's/^  records not yet published: //p')
    if [[ $spooled -ne $LINES ]]; then
        echo "the spool holds $spooled records, not $LINES" >&2
        exit 1
    fi
    rm -rf "$spool"
done

read -r c_wall c_cpu c_rss <<<"$(medians "$work/cat")"
read -r o_wall o_cpu o_rss <<<"$(medians "$work/ours")"
python3 - "$LINES" "$c_wall" "$c_cpu" "$c_rss" "$o_wall" "$o_cpu" "$o_rss" <<'EOF'
import sys
lines = int(sys.argv[1])
c_wall, c_cpu, c_rss, o_wall, o_cpu, o_rss = map(float, sys.argv[2:8])
print("## Spooling with Pub/Sub unreachable: %d combined lines, median of 3 runs" % lines)
print()
print("| command | wall s | lines/s | CPU ns/line | peak RSS MB | target |")
print("|---|---|---|---|---|---|")
print("| `cat` into the spool's directory | %.3f | %.0f | %.0f | %.1f | reference |"
      % (c_wall, lines / c_wall, c_cpu / lines * 1e9, c_rss / 1024))
print("| `accesslog-pubsub`, endpoint refusing connections | %.3f | %.0f | %.0f | %.1f | >= 1,000,000 lines/s |"
      % (o_wall, lines / o_wall, o_cpu / lines * 1e9, o_rss / 1024))
print()
print("- every line was in the spool afterwards (`spool status`)")
print("- ours / cat: wall x%.1f, CPU x%.1f" % (o_wall / max(c_wall, 1e-3), o_cpu / max(c_cpu, 1e-3)))
print("- lines/s: %s (target >= 1,000,000)" % ("met" if lines / o_wall >= 1e6 else "NOT met"))
EOF
