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

# Creates $BENCH_DIR/combined-N.log with bench/gen_log.py unless it exists; prints its path.
log_file() {
    local lines=$1
    local path="$BENCH_DIR/combined-$lines.log"
    mkdir -p "$BENCH_DIR"
    if [[ ! -s $path ]]; then
        echo "generating $path" >&2
        python3 bench/gen_log.py "$lines" "$path.tmp"
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

# bests FILE: the lowest wall and user+sys of its runs (noise on a shared host only adds).
bests() {
    python3 - "$1" <<'EOF'
import sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
print("%.3f %.3f" % (min(r[0] for r in rows), min(r[1] + r[2] for r in rows)))
EOF
}

# medians FILE: prints the medians of its columns "wall user+sys maxrss_kb" (one line).
medians() {
    python3 - "$1" <<'EOF'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] + r[2] for r in rows)
rss = statistics.median(r[3] for r in rows)
print("%.3f %.3f %d" % (wall, cpu, rss))
EOF
}
