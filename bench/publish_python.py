#!/usr/bin/env python3
"""Python reference publishers for bench/e2e.sh: how access logs reach Pub/Sub without us.

Usage: PUBSUB_EMULATOR_HOST=127.0.0.1:PORT bench/publish_python.py MODE [--project P] [--topic T] < access.log

Each log line is split on spaces into a dict, dumped as JSON and published as one message
with the `google-cloud-pubsub` PyPI client (default batching). MODE:
  wait   publish a line and wait for its future before the next (the naive approach)
  batch  publish every line, keep the futures, wait for all of them at the end
Prints the number of acked messages; exits 1 if any publish failed.
"""

import argparse
import json
import sys

from google.cloud import pubsub_v1

# Positions of a combined line split on single spaces; the rest is the user agent.
FIELDS = ["host", "ident", "user", "time", "zone", "method", "path", "protocol", "status", "bytes", "referer"]


def record(line):
    parts = line.rstrip("\n").split(" ")
    fields = dict(zip(FIELDS, parts))
    fields["user_agent"] = " ".join(parts[len(FIELDS):])
    return json.dumps(fields).encode()


def main():
    parser = argparse.ArgumentParser(description="Publish an access log with the Python client.")
    parser.add_argument("mode", choices=["wait", "batch"])
    parser.add_argument("--project", default="test")
    parser.add_argument("--topic", default="bench-topic")
    args = parser.parse_args()

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(args.project, args.topic)
    acked = 0
    failed = 0
    futures = []
    for line in sys.stdin:
        future = publisher.publish(topic, record(line))
        if args.mode == "batch":
            futures.append(future)
            continue
        try:
            future.result()
            acked += 1
        except Exception as error:  # noqa: BLE001 - any failure is counted and reported
            failed += 1
            print("publish failed: %s" % error, file=sys.stderr)
    for future in futures:
        try:
            future.result()
            acked += 1
        except Exception as error:  # noqa: BLE001 - any failure is counted and reported
            failed += 1
            print("publish failed: %s" % error, file=sys.stderr)
    print("published %d messages, %d failed" % (acked, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
