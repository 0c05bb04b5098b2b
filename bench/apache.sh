#!/usr/bin/env bash
# Speed inside Apache: Debian's httpd serving a small file to `ab -k -c 16`, with its access
# log written four ways, in interleaved rounds:
#
#   file         CustomLog to a file (httpd writes it itself): the bar
#   cat          CustomLog "|$exec /bin/cat >> file": the cheapest possible piped logger
#   ours         CustomLog "|accesslog-pubsub ...", publishing to a private emulator
#   ours-down    the same with Pub/Sub unreachable (a closed port): everything spools
#
# Usage: bench/apache.sh [--requests N] [--rounds R]     (from the repository root; as root)
#
# Every round runs each case once: httpd started from scratch in a temp dir on a free
# loopback port (format bigquery_combined, as the packaged snippet), 2,000 requests to warm
# up, then N measured requests (default 50,000), then httpd stopped. Prints a Markdown table
# of the best round of each case (noise on a shared host only slows): requests/s and its
# ratio to `file`, and the logger process's CPU per request (its threads' run time from
# /proc/PID/task/*/schedstat over the measured requests) and its ratio to `cat`.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

REQUESTS=50000
ROUNDS=5
while [[ $# -gt 0 ]]; do
    case "$1" in
    --requests) REQUESTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: bench/apache.sh [--requests N] [--rounds R]" >&2; exit 2 ;;
    esac
done
CASES=(file cat ours ours-down)
BINARY=$PWD/target/release/accesslog-pubsub
FORMAT='"%v:%p %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D \"%{X-Forwarded-For}i\""'

for tool in apache2 ab gcloud; do
    command -v "$tool" >/dev/null || {
        echo "$tool is needed (apt-get install apache2 apache2-utils; gcloud with the pubsub emulator)" >&2
        exit 1
    }
done
cargo build --release --quiet

work=$(mktemp -d)
chmod 755 "$work"
mkdir -p "$work/htdocs"
printf 'hello\n' >"$work/htdocs/index.html"
httpd_conf=
stop_all() {
    if [[ -n $httpd_conf ]]; then
        apache2 -f "$httpd_conf" -k stop 2>/dev/null || true
    fi
    stop_emulator
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_emulator "$work"
host=$EMULATOR_HOST
python3 bench/emulator_rest.py "$host" create-topic bench

# The CustomLog target of case $1 in directory $2.
log_target() {
    local dir=$2
    case "$1" in
    file) echo "$dir/access.log" ;;
    cat) echo "\"|\$exec /bin/cat >> $dir/access.log\"" ;;
    ours) echo "\"|$BINARY --config $PWD/packaging/config.toml --project test --topic bench --spool-dir $dir/spool --endpoint http://$host\"" ;;
    ours-down) echo "\"|$BINARY --config $PWD/packaging/config.toml --project test --topic bench --spool-dir $dir/spool --endpoint http://127.0.0.1:9 --shutdown-timeout 1s\"" ;;
    esac
}

# Run time in ns of every thread of the piped logger of the httpd whose pid file is $1: the
# children of httpd's parent process that are not httpd.
cpu_ns() {
    local total=0 parent pid comm t ns
    parent=$(cat "$1")
    while read -r pid comm; do
        [[ $comm == apache2 ]] && continue
        for t in /proc/"$pid"/task/*/schedstat; do
            read -r ns _ <"$t" 2>/dev/null || continue
            total=$((total + ns))
        done
    done < <(ps -o pid=,comm= --ppid "$parent")
    echo "$total"
}

# run CASE ROUND: one measured run; appends "CASE requests_per_s cpu_ns_per_request" to results.
run() {
    local case=$1 round=$2
    local dir=$work/$case-$round
    mkdir -p "$dir/run" "$dir/spool"
    local p
    p=$(free_port)
    httpd_conf=$dir/httpd.conf
    cat >"$httpd_conf" <<EOF
ServerRoot /usr/lib/apache2
ServerName 127.0.0.1
Listen 127.0.0.1:$p
PidFile $dir/run/httpd.pid
DefaultRuntimeDir $dir/run
ErrorLog $dir/error.log
LogLevel notice
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
DocumentRoot $work/htdocs
<Directory $work/htdocs>
    Require all granted
</Directory>
LogFormat $FORMAT bigquery_combined
CustomLog $(log_target "$case" "$dir") bigquery_combined
EOF
    apache2 -f "$httpd_conf" -k start
    for _ in $(seq 200); do
        grep -q 'resuming normal operations' "$dir/error.log" 2>/dev/null && break
        sleep 0.05
    done
    local url=http://127.0.0.1:$p/index.html
    ab -q -k -c 16 -n 2000 "$url" >/dev/null
    local before after
    before=$(cpu_ns "$dir/run/httpd.pid")
    ab -k -c 16 -n "$REQUESTS" "$url" >"$dir/ab.txt" 2>/dev/null
    after=$(cpu_ns "$dir/run/httpd.pid")
    apache2 -f "$httpd_conf" -k stop
    for _ in $(seq 400); do
        [[ -z $(pgrep -f -- "$dir/" || true) ]] && break
        sleep 0.05
    done
    httpd_conf=
    local rps
    rps=$(awk '/^Requests per second:/ {print $4}' "$dir/ab.txt")
    local failed
    failed=$(awk '/^Failed requests:/ {print $3}' "$dir/ab.txt")
    if [[ $failed != 0 ]]; then
        echo "$case round $round: ab reports $failed failed requests" >&2
    fi
    echo "$case $rps $(((after - before) / REQUESTS))" >>"$work/results"
    echo "round $round $case: $rps requests/s, logger $(((after - before) / REQUESTS)) ns/request" >&2
    if [[ $case == ours ]]; then
        local left
        left=$("$BINARY" --config /dev/null spool status --spool-dir "$dir/spool" | awk '/records not yet published/ {print $NF}')
        [[ $left == 0 ]] || echo "ours round $round: $left records left in the spool" >&2
    fi
    rm -rf "$dir/spool" "$dir/access.log"
}

for round in $(seq "$ROUNDS"); do
    for case in "${CASES[@]}"; do
        run "$case" "$round"
    done
done

python3 - "$work/results" "$REQUESTS" "$ROUNDS" <<'EOF'
import sys
rows = [line.split() for line in open(sys.argv[1])]
best = {}
for case, rps, ns in rows:
    rps, ns = float(rps), int(ns)
    b = best.setdefault(case, [0.0, None])
    b[0] = max(b[0], rps)
    b[1] = ns if b[1] is None else min(b[1], ns)
file_rps = best["file"][0]
cat_ns = best["cat"][1]
print(f"Apache serving a 6-byte file to ab -k -c 16, {sys.argv[2]} requests, best of {sys.argv[3]} interleaved rounds:")
print()
print("| access log | requests/s | vs file | logger CPU per request | vs cat |")
print("|---|---|---|---|---|")
labels = {
    "file": "CustomLog to a file (httpd writes it)",
    "cat": "`\\|$exec cat >> file`",
    "ours": "accesslog-pubsub, publishing",
    "ours-down": "accesslog-pubsub, Pub/Sub unreachable",
}
for case in ["file", "cat", "ours", "ours-down"]:
    rps, ns = best[case]
    cpu = "-" if case == "file" else f"{ns / 1000:.2f} us"
    vs_cat = "-" if case == "file" else f"{ns / cat_ns:.1f}x"
    print(f"| {labels[case]} | {rps:,.0f} | {rps / file_rps:.2f}x | {cpu} | {vs_cat} |")
EOF
