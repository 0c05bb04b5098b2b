#!/usr/bin/env bash
# End-to-end publishing benchmark against a private Pub/Sub emulator.
#
# Usage: bench/e2e.sh [--lines N] [--runs R] [--only NAME,NAME...]   (from the repository root)
#        N defaults to 200000, R to 3; --only runs just the named publishers (for quick checks).
#
# (Spooling with Pub/Sub unreachable is bench/spool_down.sh.)
#
# Starts its own emulator (gcloud, free port, own data dir; its process group is killed at
# exit), creates topic bench-topic with ONE subscription, bench-verify, that is drained after
# every run to count what arrived. Generates N combined lines and runs, 3 times each, medians:
#   ours        accesslog-pubsub --project test --topic bench-topic --spool-dir <tmp>
#   floor       `accesslog-pubsub parse` output (made once, not timed) fed to the
#               bare_publisher example (crate defaults), and again with --batch-large
#   py-batch    bench/publish_python.py batch (google-cloud-pubsub, all futures awaited at end)
#   py-wait     bench/publish_python.py wait on 2,000 lines only (it waits for every publish)
# Prints a Markdown table (wall, lines/s, CPU per line incl. children, peak RSS, delivered)
# and the ratios against the targets.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=3
ONLY=
LINES=200000
WAIT_LINES=2000
TOPIC=bench-topic
SUB=bench-verify
BINARY=target/release/accesslog-pubsub
FLOOR=target/release/examples/bare_publisher
VENV=$BENCH_DIR/venv

while [[ $# -gt 0 ]]; do
    case $1 in
    --lines)
        LINES=$2
        shift 2
        ;;
    --runs)
        RUNS=$2
        shift 2
        ;;
    --only)
        ONLY=",$2,"
        shift 2
        ;;
    *)
        echo "usage: bench/e2e.sh [--lines N] [--runs R] [--only NAME,NAME...]" >&2
        exit 2
        ;;
    esac
done
if [[ $WAIT_LINES -gt $LINES ]]; then
    WAIT_LINES=$LINES
fi

command -v gcloud >/dev/null || {
    echo "gcloud (with the pubsub emulator component) is needed" >&2
    exit 1
}
ensure_gnu_time
cargo build --release --quiet
cargo build --release --quiet --example bare_publisher
if ! "$VENV/bin/python" -c 'import google.cloud.pubsub_v1' 2>/dev/null; then
    echo "installing google-cloud-pubsub into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet google-cloud-pubsub
fi

work=$(mktemp -d)
results=$work/results
mkdir "$results"
trap 'stop_emulator; rm -rf "$work"' EXIT

started=$(date +%s.%N)
start_emulator "$work"
host=$EMULATOR_HOST
echo "emulator ready on $host after $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$started" "$(date +%s.%N)") s" >&2
python3 bench/emulator_rest.py "$host" create-topic "$TOPIC"
python3 bench/emulator_rest.py "$host" create-sub "$SUB" "$TOPIC"
export PUBSUB_EMULATOR_HOST=$host

log=$(log_file "$LINES")
head -n "$WAIT_LINES" "$log" >"$work/wait.log"
"$BINARY" parse --format combined <"$log" >"$work/records.json"
records=$(wc -l <"$work/records.json")
if [[ $records -ne $LINES ]]; then
    echo "parse emitted $records records for $LINES lines" >&2
    exit 1
fi

# measure NAME EXPECTED INPUT COMMAND...: one timed run, then counts what the subscription got.
measure() {
    local name=$1 expected=$2 input=$3
    shift 3
    if [[ -n $ONLY && $ONLY != *",$name,"* ]]; then
        return
    fi
    echo "run: $name ($expected lines)" >&2
    if ! timed "$results/$name" "$input" "$@"; then
        echo "failed" >>"$results/$name.failed"
    fi
    echo "$expected $(python3 bench/emulator_rest.py "$host" drain "$SUB")" >>"$results/$name.delivered"
}

for _ in $(seq "$RUNS"); do
    spool=$(mktemp -d "$work/spool.XXXXXX")
    measure ours "$LINES" "$log" \
        "$BINARY" --project test --topic "$TOPIC" --spool-dir "$spool" --format combined
    measure floor "$LINES" "$work/records.json" "$FLOOR" --topic "$TOPIC"
    measure floor-large "$LINES" "$work/records.json" "$FLOOR" --topic "$TOPIC" --batch-large
    measure py-batch "$LINES" "$log" "$VENV/bin/python" bench/publish_python.py batch --topic "$TOPIC"
    measure py-wait "$WAIT_LINES" "$work/wait.log" "$VENV/bin/python" bench/publish_python.py wait --topic "$TOPIC"
done

python_client=$("$VENV/bin/pip" show google-cloud-pubsub 2>/dev/null | sed -n 's/^Version: //p')
python3 - "$results" "$LINES" "$WAIT_LINES" "$python_client" <<'EOF'
import os, statistics, sys

results, lines, wait_lines, python_client = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [
    ("ours", "`accesslog-pubsub` (parse + spool + publish)"),
    ("floor", "floor: `parse` output -> bare_publisher, crate default batching"),
    ("floor-large", "floor: bare_publisher --batch-large (1000 / 9 MB / 50 ms)"),
    ("py-batch", "python %s, batch (futures awaited at the end)" % python_client),
    ("py-wait", "python %s, wait per line (%d lines, extrapolated)" % (python_client, wait_lines)),
]

def read(name, suffix=""):
    path = os.path.join(results, name + suffix)
    if not os.path.exists(path):
        return []
    return [line.split() for line in open(path) if line.strip()]

figures = {}
print("## End-to-end publishing benchmark: %d combined lines, median of the runs" % lines)
print()
print("| publisher | runs ok | wall s | lines/s | CPU us/line | peak RSS MB | delivered |")
print("|---|---|---|---|---|---|---|")
for name, label in rows:
    times = [list(map(float, r)) for r in read(name)]
    failed = len(read(name, ".failed"))
    delivered = []
    for expected, count, _distinct in (map(int, r) for r in read(name, ".delivered")):
        if count == expected:
            delivered.append("all")
        elif count < expected:
            delivered.append("LOST %d" % (expected - count))
        else:
            delivered.append("+%d duplicates" % (count - expected))
    n = wait_lines if name == "py-wait" else lines
    if not times:
        print("| %s | 0/%d | | | | | %s |" % (label, failed, ", ".join(delivered)))
        continue
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] + t[2] for t in times)
    rss = statistics.median(t[3] for t in times) / 1024
    figures[name] = (n / wall, cpu / n, rss)
    print("| %s | %d/%d | %.2f | %.0f | %.2f | %.1f | %s |"
          % (label, len(times), len(times) + failed, wall, n / wall, cpu / n * 1e6, rss, ", ".join(delivered)))
print()
print("CPU is user+sys of the process and its waited-for children (/usr/bin/time); the emulator")
print("runs on the same machine and is not counted. py-wait figures come from %d lines." % wait_lines)
print()

def ratio(label, a, b, index, target=None, good=None):
    if a not in figures or b not in figures:
        print("- %s: n/a (a run failed)" % label)
        return
    value = figures[a][index] / figures[b][index]
    if target is None:
        print("- %s: %.1f" % (label, value))
    else:
        print("- %s: %.2f (target %s) %s" % (label, value, target, "met" if good(value) else "NOT met"))

ratio("ours / floor, CPU per line", "ours", "floor", 1, "<= 1.3", lambda v: v <= 1.3)
ratio("ours / floor, lines/s", "ours", "floor", 0, ">= 0.8", lambda v: v >= 0.8)
ratio("ours / floor-large, CPU per line", "ours", "floor-large", 1, "<= 1.3", lambda v: v <= 1.3)
ratio("ours / floor-large, lines/s", "ours", "floor-large", 0, ">= 0.8", lambda v: v >= 0.8)
ratio("ours / python batch, lines/s", "ours", "py-batch", 0, ">= 10", lambda v: v >= 10)
ratio("ours / python wait, lines/s", "ours", "py-wait", 0)
if "ours" in figures:
    rss = figures["ours"][2]
    print("- ours, peak RSS: %.1f MB (target < 30 MB) %s" % (rss, "met" if rss < 30 else "NOT met"))
EOF
