#!/usr/bin/env bash
# The README's first command: the piped logger's main job, end to end, on local defaults.
#
#   ./demo.sh [LINES]
#
# Starts the Pub/Sub emulator on a free port, creates a topic and a subscription, pipes a
# sample combined-format access log (LINES lines, default 1000) through accesslog-pubsub as
# Apache would, then pulls what arrived in Pub/Sub and shows a few messages. Needs gcloud
# with the Pub/Sub emulator, python3 and curl; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")"
lines="${1:-1000}"
project=demo
topic=demo-access-log
subscription=demo-sub

echo "== building (cargo build; the tests build the same binary)"
cargo build --quiet
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/v1/projects/$project"

echo "== starting the Pub/Sub emulator on 127.0.0.1:$port"
mkdir -p "$work/emulator"
setsid gcloud beta emulators pubsub start --host-port="127.0.0.1:$port" --project="$project" \
    --data-dir="$work/emulator" >"$work/emulator.log" 2>&1 &
emulator=$!
cleanup() {
    kill -TERM -- "-$emulator" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$emulator" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fs "http://127.0.0.1:$port/" >/dev/null || { tail -20 "$work/emulator.log"; exit 1; }
curl -fs -X PUT "$base/topics/$topic" >/dev/null
curl -fs -X PUT "$base/subscriptions/$subscription" -H 'content-type: application/json' \
    -d "{\"topic\": \"projects/$project/topics/$topic\"}" >/dev/null

echo "== piping $lines sample log lines through accesslog-pubsub"
python3 bench/gen_log.py "$lines" "$work/access.log"
echo "   first line: $(head -1 "$work/access.log")"
time PUBSUB_EMULATOR_HOST="127.0.0.1:$port" target/debug/accesslog-pubsub \
    --project "$project" --topic "$topic" --spool-dir "$work/spool" <"$work/access.log"

echo "== pulling from projects/$project/subscriptions/$subscription"
python3 - "$base/subscriptions/$subscription" "$lines" <<'PY'
import base64, json, sys, time, urllib.request

url, want = sys.argv[1], int(sys.argv[2])

def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                 {"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)

got, deadline = [], time.time() + 30
while len(got) < want and time.time() < deadline:
    msgs = post(":pull", {"maxMessages": 1000}).get("receivedMessages", [])
    if msgs:
        post(":acknowledge", {"ackIds": [m["ackId"] for m in msgs]})
    got += [json.loads(base64.b64decode(m["message"]["data"])) for m in msgs]
ids = {r["id"] for r in got}
errors = sum(1 for r in got if r.get("parse_error"))
print(f"{len(got)} messages arrived ({len(ids)} distinct ids, {errors} parse errors); {want} lines were sent")
for record in got[:3]:
    print(json.dumps(record, indent=2))
sys.exit(0 if len(ids) == want else 1)
PY
