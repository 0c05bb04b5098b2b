# Shared shell functions for the benchmark scripts in bench/; sourced, never run.
#
# Usage (in a script run from the repository root):  source bench/lib.sh
# shellcheck shell=bash

BENCH_DIR=target/bench

# Makes sure /usr/bin/time (GNU time) exists, installing it with apt if needed.
ensure_gnu_time() {
    if [[ ! -x /usr/bin/time ]]; then
        echo "installing GNU time with apt-get" >&2
        apt-get update -qq
        apt-get install -y -qq time >/dev/null
    fi
}

# log_file N [VISITORS]: creates $BENCH_DIR/combined-N.log (or combined-N-vVISITORS.log, whose
# lines come from VISITORS concurrent visits, see bench/gen_log.py) unless it exists; prints
# its path.
log_file() {
    local lines=$1 visitors=${2:-0}
    local path="$BENCH_DIR/combined-$lines.log"
    if ((visitors > 0)); then
        path="$BENCH_DIR/combined-$lines-v$visitors.log"
    fi
    mkdir -p "$BENCH_DIR"
    if [[ ! -s $path ]]; then
        echo "generating $path" >&2
        python3 bench/gen_log.py "$lines" "$path.tmp" --visitors "$visitors"
        mv "$path.tmp" "$path"
    fi
    echo "$path"
}

# timed OUT INPUT COMMAND...: runs COMMAND once with stdin from INPUT, stdout discarded and
# stderr appended to OUT.stderr, and appends "wall user sys maxrss_kb" to OUT. Returns 1
# (after showing the end of its stderr) if COMMAND fails.
timed() {
    local out=$1 input=$2
    shift 2
    local tmp
    tmp=$(mktemp)
    if ! /usr/bin/time -f '%e %U %S %M' -o "$tmp" "$@" <"$input" >/dev/null 2>>"$out.stderr"; then
        echo "benchmark command failed: $*" >&2
        tail -n 20 "$out.stderr" >&2
        rm -f "$tmp"
        return 1
    fi
    tail -n 1 "$tmp" >>"$out"
    rm -f "$tmp"
}

# cpu_timed OUT INPUT COMMAND...: as `timed`, but CPU to the microsecond (from wait4(), where
# GNU time prints 10 ms steps), for commands whose CPU is the figure: appends "wall user sys"
# to OUT. Its peak RSS would be the forking Python's, so it has none.
cpu_timed() {
    local out=$1 input=$2
    shift 2
    if ! python3 -c "$CPU_TIMED_PY" "$@" <"$input" >/dev/null 2>>"$out.stderr" 3>>"$out"; then
        echo "benchmark command failed: $*" >&2
        tail -n 20 "$out.stderr" >&2
        return 1
    fi
}

# The runner of `cpu_timed`: fork, exec the command (stdin, stdout, stderr inherited), wait4.
CPU_TIMED_PY='
import os, sys, time
start = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - start
with os.fdopen(3, "w") as out:
    out.write("%.6f %.6f %.6f\n" % (wall, usage.ru_utime, usage.ru_stime))
sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
'

# bests FILE: the lowest wall and user+sys of its runs (noise on a shared host only adds).
bests() {
    python3 - "$1" <<'EOF'
import sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
print("%.3f %.3f" % (min(r[0] for r in rows), min(r[1] + r[2] for r in rows)))
EOF
}

# medians FILE: prints the medians of its columns "wall user+sys maxrss_kb" (one line; 0 for
# the RSS of `cpu_timed` rows, which have none).
medians() {
    python3 - "$1" <<'EOF'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] + r[2] for r in rows)
rss = statistics.median(r[3] if len(r) > 3 else 0 for r in rows)
print("%.3f %.3f %d" % (wall, cpu, rss))
EOF
}

# start_emulator DIR: starts a private Pub/Sub emulator on a free port (data and log in DIR,
# its own process group) and waits until it answers; sets EMULATOR_HOST (host:port) and
# EMULATOR_PGID. Pair with `trap stop_emulator EXIT`.
start_emulator() {
    local dir=$1 port
    mkdir -p "$dir/emulator-data"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    EMULATOR_HOST=127.0.0.1:$port
    # Job control gives the background job its own process group, so it can be killed whole.
    set -m
    gcloud beta emulators pubsub start --host-port="$EMULATOR_HOST" --project=test \
        --data-dir="$dir/emulator-data" >"$dir/emulator.log" 2>&1 &
    EMULATOR_PGID=$!
    set +m
    # The log line proves that the emulator answering is this one, not another on the port.
    if ! python3 bench/emulator_rest.py "$EMULATOR_HOST" wait-ready --timeout 90 ||
        ! grep -q "listening on $port" "$dir/emulator.log"; then
        echo "the emulator did not start on $EMULATOR_HOST; its log:" >&2
        tail -n 30 "$dir/emulator.log" >&2
        return 1
    fi
}

# stop_emulator: stops the emulator start_emulator started (TERM, then KILL).
stop_emulator() {
    if [[ -n ${EMULATOR_PGID:-} ]]; then
        kill -TERM -- "-$EMULATOR_PGID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 -- "-$EMULATOR_PGID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$EMULATOR_PGID" 2>/dev/null || true
        EMULATOR_PGID=
    fi
}
