#!/usr/bin/env python3
"""Pub/Sub emulator REST helper for the benchmark scripts (stdlib only).

Usage: bench/emulator_rest.py HOST:PORT create-topic TOPIC
       bench/emulator_rest.py HOST:PORT create-sub SUB TOPIC
       bench/emulator_rest.py HOST:PORT delete-sub SUB
       bench/emulator_rest.py HOST:PORT drain SUB [--quiet-ms MS] [--timeout S]
       bench/emulator_rest.py HOST:PORT wait-ready [--timeout S]

`drain` pulls and acks everything on SUB until nothing new came for a quiet period, then
prints the number of messages and the number of distinct message bodies.
"""

import argparse
import base64
import hashlib
import http.client
import json
import sys
import time

PROJECT = "test"


class Emulator:
    def __init__(self, host_port):
        host, port = host_port.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def call(self, method, path, body=None):
        payload = json.dumps(body if body is not None else {}).encode()
        headers = {"Content-Type": "application/json"}
        self.conn.request(method, "/v1/projects/%s/%s" % (PROJECT, path), payload, headers)
        response = self.conn.getresponse()
        text = response.read()
        if response.status != 200:
            sys.exit("%s %s: HTTP %d: %s" % (method, path, response.status, text.decode()))
        return json.loads(text) if text.strip() else {}


def drain(emulator, sub, quiet, timeout):
    count = 0
    bodies = set()
    start = last = time.monotonic()
    while True:
        reply = emulator.call(
            "POST", "subscriptions/%s:pull" % sub, {"maxMessages": 1000, "returnImmediately": True}
        )
        received = reply.get("receivedMessages", [])
        now = time.monotonic()
        if received:
            last = now
            count += len(received)
            for item in received:
                bodies.add(hashlib.blake2b(base64.b64decode(item["message"].get("data", ""))).digest())
            ack_ids = [item["ackId"] for item in received]
            emulator.call("POST", "subscriptions/%s:acknowledge" % sub, {"ackIds": ack_ids})
        elif now - last >= quiet or now - start >= timeout:
            return count, len(bodies)
        else:
            time.sleep(0.05)


def wait_ready(host_port, timeout):
    host, port = host_port.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("emulator on %s not ready after %s s" % (host_port, timeout))


def main():
    parser = argparse.ArgumentParser(description="Pub/Sub emulator REST helper.")
    parser.add_argument("host_port")
    parser.add_argument("command", choices=["create-topic", "create-sub", "delete-sub", "drain", "wait-ready"])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--quiet-ms", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    if args.command == "wait-ready":
        wait_ready(args.host_port, args.timeout)
        return
    emulator = Emulator(args.host_port)
    if args.command == "create-topic":
        emulator.call("PUT", "topics/%s" % args.names[0])
    elif args.command == "create-sub":
        sub, topic = args.names
        body = {"topic": "projects/%s/topics/%s" % (PROJECT, topic), "ackDeadlineSeconds": 600}
        emulator.call("PUT", "subscriptions/%s" % sub, body)
    elif args.command == "delete-sub":
        emulator.call("DELETE", "subscriptions/%s" % args.names[0])
    else:
        count, distinct = drain(emulator, args.names[0], args.quiet_ms / 1000, args.timeout)
        print(count, distinct)


if __name__ == "__main__":
    main()
