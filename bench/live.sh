#!/usr/bin/env bash
# Live-traffic benchmark: lines written one per write(), as Apache's workers write them.
#
# Usage: bench/live.sh [--seconds N] [--runs R] [--pipe-mib 1|4] [-- LOGGER FLAGS...]
#        (from the repository root)
#        N (seconds per paced load) defaults to 10, R (runs per subject and load, medians) to 1;
#        flags after -- go to accesslog-pubsub (e.g. -- --batch-max-delay 50ms).
#        --pipe-mib 4 gives the logger the 4 MiB pipe httpd's root-started loggers get (it
#        asks for it with CAP_SYS_RESOURCE): needs root, and raises /proc/sys/fs/pipe-max-size
#        to 4 MiB for the run (put back at exit). The default, 1, is what a logger without
#        that capability gets.
#
# Starts its own emulator (free port, own data dir, killed at exit), creates topic
# live-topic with one subscription, then runs bench/live.py: `cat > file` (the reference),
# ours with Pub/Sub unreachable and ours publishing, each fed by a paced writer at 1,000,
# 10,000 and 30,000 lines/s and by bursts of 5,000 lines at once, then ours idle for 30 s,
# then 1 and 24 loggers publishing at once (a CustomLog per virtual host), fed 1,000 lines/s
# between them, for the memory each costs.
# Prints per load: CPU per line (all threads, from /proc), wake-ups (voluntary context
# switches) per second and per line, peak RSS, PSS and anonymous memory, writes that would
# have blocked, write -> Pub/Sub publish-time latency p50/p99/max, lines delivered; then
# the ratios against the targets, and what looking at the pipe costs on this machine (how
# fast the burst writer fills a 1 MiB pipe, the CPU of one 5 ms nap: bench/nap_cost.rs).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

SECONDS_PER_LOAD=10
RUNS=1
PIPE_MIB=1
while [[ $# -gt 0 ]]; do
    case $1 in
    --seconds)
        SECONDS_PER_LOAD=$2
        shift 2
        ;;
    --runs)
        RUNS=$2
        shift 2
        ;;
    --pipe-mib)
        PIPE_MIB=$2
        shift 2
        ;;
    --)
        shift
        break
        ;;
    *)
        echo "usage: bench/live.sh [--seconds N] [--runs R] [--pipe-mib 1|4] [-- LOGGER FLAGS...]" >&2
        exit 2
        ;;
    esac
done

command -v gcloud >/dev/null || {
    echo "gcloud (with the pubsub emulator component) is needed" >&2
    exit 1
}
cargo build --release --quiet
cargo build --release --quiet --example nap_cost
work=$(mktemp -d)
max_size=/proc/sys/fs/pipe-max-size
old_max_size=$(cat "$max_size")
restore() {
    stop_emulator
    rm -rf "$work"
    if [[ $(cat "$max_size") != "$old_max_size" ]]; then
        echo "$old_max_size" >"$max_size"
    fi
}
trap restore EXIT
case $PIPE_MIB in
1) ;;
4)
    if ((old_max_size < 4 << 20)) && ! echo $((4 << 20)) 2>/dev/null >"$max_size"; then
        echo "--pipe-mib 4 needs root (to raise $max_size)" >&2
        exit 1
    fi
    ;;
*)
    echo "--pipe-mib is 1 or 4" >&2
    exit 2
    ;;
esac
start_emulator "$work"
python3 bench/emulator_rest.py "$EMULATOR_HOST" create-topic live-topic
python3 bench/emulator_rest.py "$EMULATOR_HOST" create-sub live-sub live-topic
python3 bench/live.py --binary "$PWD/target/release/accesslog-pubsub" \
    --emulator "$EMULATOR_HOST" --topic live-topic --sub live-sub \
    --seconds "$SECONDS_PER_LOAD" --runs "$RUNS" \
    --nap-cost "$PWD/target/release/examples/nap_cost" --pipe-mib "$PIPE_MIB" -- "$@"
