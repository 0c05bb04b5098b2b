#!/usr/bin/env bash
# Cost of the privacy settings: `parse` with client_ip = hash, two redacted query parameters
# and raw = drop against plain `parse`, on the same file, in the same run.
#
# Usage: bench/privacy.sh            (from the repository root)
#
# Two 1,000,000-line combined logs: one from 32 concurrent visits of 12 requests on average
# (a client address is on many lines close together, as on a real site: this is the file the
# target is judged on) and one where every line has a new random client (the worst case:
# every address is hashed afresh). Each command runs 5 times pinned to CPU 0 (when taskset
# exists); the table gives the median CPU ns per line (user+sys, to the microsecond: see
# `cpu_timed` in bench/lib.sh) and the ratio to plain `parse` on the same file. Target: at
# most 1.3x on the visits file.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=5
LINES=1000000
VISITORS=32
BINARY=target/release/accesslog-pubsub

cargo build --release --quiet
declare -A inputs=(
    [visits]=$(log_file "$LINES" "$VISITORS")
    [distinct]=$(log_file "$LINES")
)

pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c 0)
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
key="$results/hash.key"
head -c 32 /dev/urandom | base64 >"$key"
chmod 600 "$key"
private=(--client-ip hash --hash-key-file "$key" --redact-query-param q
    --redact-query-param id --raw drop)

# Not timed: the private records must be what the settings promise, or their cost means
# nothing: no client address, no value of a redacted parameter, no raw line.
sample=$("$BINARY" parse --format combined "${private[@]}" <"${inputs[visits]}" | head -n 20000)
if grep -qE '"remote_host":"[0-9.:a-f]+"|[?&](q|id)=[^R&"]|"raw":' <<<"$sample"; then
    echo "privacy settings left something out of place:" >&2
    grep -m 3 -E '"remote_host":"[0-9.:a-f]+"|[?&](q|id)=[^R&"]|"raw":' <<<"$sample" >&2
    exit 1
fi

for _ in $(seq "$RUNS"); do
    for file in visits distinct; do
        input=${inputs[$file]}
        cpu_timed "$results/$file-plain" "$input" "${pin[@]}" "$BINARY" parse --format combined
        cpu_timed "$results/$file-private" "$input" "${pin[@]}" "$BINARY" parse --format combined \
            "${private[@]}"
    done
done

rows=()
for file in visits distinct; do
    read -r _ plain _ <<<"$(medians "$results/$file-plain")"
    read -r _ private_cpu _ <<<"$(medians "$results/$file-private")"
    rows+=("$file" "$plain" "$private_cpu")
done

python3 - "$LINES" "$VISITORS" "$RUNS" "${#pin[@]}" "${rows[@]}" <<'PY'
import sys
lines, visitors, runs, pinned = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] != "0"
rows = sys.argv[5:]
names = {
    "visits": "%d concurrent visits (a client on ~12 lines)" % visitors,
    "distinct": "a new client on every line (worst case)",
}
print("## Privacy benchmark: %d combined lines, median of %s runs%s"
      % (lines, runs, ", pinned to CPU 0" if pinned else ""))
print()
print("`private` = `--client-ip hash --hash-key-file K --redact-query-param q "
      "--redact-query-param id --raw drop`")
print()
print("| file | plain `parse` ns/line | private `parse` ns/line | private / plain | target |")
print("|---|---|---|---|---|")
verdict = None
for i in range(0, len(rows), 3):
    name, plain, private = rows[i], float(rows[i + 1]), float(rows[i + 2])
    ratio = private / max(plain, 1e-9)
    target = "<= 1.3x" if name == "visits" else "(shown)"
    if name == "visits":
        verdict = ratio <= 1.3
    print("| %s | %.0f | %.0f | %.2fx | %s |"
          % (names[name], plain / lines * 1e9, private / lines * 1e9, ratio, target))
print()
print("- target (private at most 1.3x plain on the visits file): %s" % ("met" if verdict else "NOT met"))
PY
