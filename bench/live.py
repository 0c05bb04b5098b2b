#!/usr/bin/env python3
"""Live-traffic benchmark: lines written one per write(), as Apache's workers do.

Usage (bench/live.sh runs it with the emulator up):
    bench/live.py --binary PATH --emulator HOST:PORT --topic T --sub S [--seconds N] [--runs R]
        [--nap-cost PATH]

For each subject and each load it starts the subject with its stdin a fresh pipe, writes one
line, waits for it to settle, then writes the load through a non-blocking write end (a
write that would block counts as `EAGAIN`, then waits and retries), waits for the last
batch to be sent, and reads the subject's own CPU time (every thread, from
/proc/PID/task/*/schedstat), voluntary context switches (wake-ups), and memory (VmHWM, Pss,
RssAnon) before closing the pipe. Subjects:
    cat        `cat > FILE`, the reference: it pays one wake-up per write
    ours-down  accesslog-pubsub with Pub/Sub unreachable (spooling only)
    ours       accesslog-pubsub publishing into the emulator
Loads: 1,000, 10,000 and 30,000 lines/s for N seconds (paced: line i is due at i/rate), and
bursts of 5,000 lines at once, one burst a second. Then `ours` idle for 30 s. Then memory
per logger when a site runs many (a CustomLog per virtual host; --loggers, default 1 and
24): that many loggers publishing at once, each with its own pipe and spool, fed 1,000
lines/s between them; each one's RSS, PSS (the program's pages are shared between them)
and anonymous memory.
For `ours`, every message is pulled from the subscription afterwards: the count must match
and the latency is each line's write time to its Pub/Sub publish time.
Prints one Markdown table per load and the ratios against the targets; with --nap-cost (the
bench/nap_cost.rs example), also what looking at the pipe costs on this machine.
"""

import argparse
import base64
import datetime
import errno
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_rest import Emulator  # noqa: E402

BURST = 5000
IDLE_SECONDS = 30
SETTLE = 2.0
SEQ = re.compile(rb"/live/(\d+)/")


_stamp = [0, ""]


def line(seq):
    now = int(time.time())
    if _stamp[0] != now:
        _stamp[0] = now
        _stamp[1] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
    return (
        '203.0.113.%d - - [%s] "GET /live/%d/index.html?q=bench HTTP/1.1" 200 5120 '
        '"https://www.example.com/start/page.html" "Mozilla/5.0 (X11; Linux x86_64) '
        'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"\n'
        % (seq % 250, _stamp[1], seq)
    ).encode()


class Subject:
    """A subject process reading a pipe; its counters are read from /proc."""

    def __init__(self, argv, env, workdir):
        read_end, self.fd = os.pipe()
        self.stderr = open(os.path.join(workdir, "stderr"), "ab")
        self.proc = subprocess.Popen(argv, stdin=read_end, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, env=env, cwd=workdir)
        os.close(read_end)
        os.set_blocking(self.fd, False)
        self.eagain = 0

    def write(self, data):
        while True:
            try:
                os.write(self.fd, data)
                return
            except BlockingIOError:
                self.eagain += 1
                select.select([], [self.fd], [])

    def counters(self):
        cpu_ns = switches = 0
        task_dir = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(task_dir):
            try:
                with open("%s/%s/schedstat" % (task_dir, tid)) as f:
                    cpu_ns += int(f.read().split()[0])
                with open("%s/%s/status" % (task_dir, tid)) as f:
                    for row in f:
                        if row.startswith("voluntary_ctxt_switches:"):
                            switches += int(row.split()[1])
            except FileNotFoundError:
                pass
        return cpu_ns, switches, time.monotonic()

    def memory(self):
        fields = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for row in f:
                key, _, value = row.partition(":")
                if key in ("VmHWM", "RssAnon"):
                    fields[key] = int(value.split()[0])
        with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
            for row in f:
                if row.startswith("Pss:"):
                    fields["Pss"] = int(row.split()[1])
        return fields

    def close(self):
        os.close(self.fd)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def paced(subjects, rate, seconds, first_seq, sent_at):
    """Writes rate*seconds lines, line i due at start + i/rate, to the subjects in turn."""
    count = int(rate * seconds)
    start = time.monotonic()
    for i in range(count):
        due = start + i / rate
        ahead = due - time.monotonic()
        if ahead > 0.0002:
            time.sleep(ahead)
        seq = first_seq + i
        data = line(seq)
        sent_at[seq] = time.time()
        subjects[i % len(subjects)].write(data)
    return count


def bursts(subject, seconds, first_seq, sent_at):
    """One burst of BURST lines a second, each line its own write()."""
    total = 0
    for b in range(max(1, int(seconds))):
        next_burst = time.monotonic() + 1.0
        for i in range(BURST):
            seq = first_seq + total + i
            data = line(seq)
            sent_at[seq] = time.time()
            subject.write(data)
        total += BURST
        if b + 1 < seconds:
            time.sleep(max(0.0, next_burst - time.monotonic()))
    return total


def publish_times(emulator, sub, expected, timeout=120):
    """seq -> publish time (s since the epoch) of every message on `sub`."""
    got = {}
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        reply = emulator.call("POST", "subscriptions/%s:pull" % sub,
                              {"maxMessages": 1000, "returnImmediately": True})
        received = reply.get("receivedMessages", [])
        if received:
            quiet_since = time.monotonic()
            for item in received:
                message = item["message"]
                m = SEQ.search(base64.b64decode(message.get("data", "")))
                if m:
                    got[int(m.group(1))] = parse_time(message["publishTime"])
            emulator.call("POST", "subscriptions/%s:acknowledge" % sub,
                          {"ackIds": [item["ackId"] for item in received]})
        elif len(got) >= expected or time.monotonic() - quiet_since > 3:
            break
        else:
            time.sleep(0.05)
    return got


def parse_time(text):
    # 2026-12-04T01:02:03.456789Z; fractions of any length.
    main, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


def ours_argv(args, workdir, endpoint):
    """accesslog-pubsub publishing to `endpoint`, its spool in `workdir`."""
    return [args.binary, "--project", "test", "--topic", args.topic, "--spool-dir",
            os.path.join(workdir, "spool"), "--endpoint", endpoint,
            "--shutdown-timeout", "1s"] + args.extra


def run_one(args, name, load, workdir):
    env = dict(os.environ)
    if name == "cat":
        argv = ["sh", "-c", "exec cat > %s" % os.path.join(workdir, "out.log")]
    else:
        endpoint = "http://%s" % args.emulator if name == "ours" else "http://127.0.0.1:9"
        argv = ours_argv(args, workdir, endpoint)
    subject = Subject(argv, env, workdir)
    sent_at = {}
    seq0 = args.next_seq
    subject.write(line(seq0))
    sent_at[seq0] = time.time()
    time.sleep(SETTLE)
    before = subject.counters()
    if load == "bursts":
        count = bursts(subject, args.seconds, seq0 + 1, sent_at)
    else:
        count = paced([subject], load, args.seconds, seq0 + 1, sent_at)
    # The last lines are sent within batch_max_delay; wait that and more.
    time.sleep(1.0)
    after = subject.counters()
    memory = subject.memory()
    rc = subject.close()
    args.next_seq = seq0 + count + 1
    wall = after[2] - before[2]
    row = {
        "subject": name,
        "lines": count,
        "cpu_us_per_line": (after[0] - before[0]) / 1000 / count,
        "wakeups_per_s": (after[1] - before[1]) / wall,
        "wakeups_per_line": (after[1] - before[1]) / count,
        "hwm_mb": memory.get("VmHWM", 0) / 1024,
        "pss_mb": memory.get("Pss", 0) / 1024,
        "anon_mb": memory.get("RssAnon", 0) / 1024,
        "eagain": subject.eagain,
        "exit": rc,
    }
    if name == "ours":
        times = publish_times(args.emu, args.sub, count + 1)
        delays = sorted((times[s] - sent_at[s]) * 1000 for s in sent_at if s in times)
        row["delivered"] = "%d/%d" % (len([s for s in sent_at if s in times]), count + 1)
        if delays:
            row["p50"] = delays[len(delays) // 2]
            row["p99"] = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
            row["max"] = delays[-1]
    return row


def idle(args, workdir):
    argv = ours_argv(args, workdir, "http://%s" % args.emulator)
    subject = Subject(argv, dict(os.environ), workdir)
    subject.write(line(args.next_seq))
    args.next_seq += 1
    time.sleep(SETTLE + 1)
    before = subject.counters()
    time.sleep(IDLE_SECONDS)
    after = subject.counters()
    subject.close()
    publish_times(args.emu, args.sub, 1, timeout=10)
    wall = after[2] - before[2]
    return (after[0] - before[0]) / 1e6 / wall, (after[1] - before[1]) / wall


def many(args, count):
    """`count` loggers publishing at once, fed 1,000 lines/s between them (round robin);
    returns the mean of each one's memory and the sum of their PSS."""
    with tempfile.TemporaryDirectory() as workdir:
        subjects = []
        for i in range(count):
            home = os.path.join(workdir, str(i))
            os.mkdir(home)
            argv = ours_argv(args, home, "http://%s" % args.emulator)
            subjects.append(Subject(argv, dict(os.environ), home))
        seq0 = args.next_seq
        lines = paced(subjects, 1000, args.seconds, seq0, {})
        time.sleep(1.0)
        memory = [s.memory() for s in subjects]
        failed = [rc for rc in (s.close() for s in subjects) if rc != 0]
    args.next_seq = seq0 + lines
    delivered = len(publish_times(args.emu, args.sub, lines))

    def mean(key):
        return sum(m.get(key, 0) for m in memory) / count / 1024

    return {
        "loggers": count,
        "rss_mb": mean("VmHWM"),
        "pss_mb": mean("Pss"),
        "anon_mb": mean("RssAnon"),
        "pss_total_mb": mean("Pss") * count,
        "delivered": "%d/%d" % (delivered, lines),
        "ok": not failed and delivered == lines,
    }


def print_many(rows):
    print("### many loggers (1,000 lines/s between them)\n")
    print("| loggers | peak RSS MB each | PSS MB each | anon MB each | PSS MB in all | delivered |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print("| %d | %.1f | %.1f | %.1f | %.1f | %s |" % (
            r["loggers"], r["rss_mb"], r["pss_mb"], r["anon_mb"], r["pss_total_mb"],
            r["delivered"]))
    if len(rows) > 1 and rows[-1]["loggers"] > rows[0]["loggers"]:
        first, last = rows[0], rows[-1]
        extra = (last["pss_total_mb"] - first["pss_total_mb"]) / (last["loggers"] - first["loggers"])
        print("\n- each logger past the first adds %.1f MB (PSS in all); one global log with %%v "
              "instead of %d costs %.1f MB instead of %.1f"
              % (extra, last["loggers"], first["pss_total_mb"], last["pss_total_mb"]))
    print()


def flag_ms(extra, flag, default):
    """The duration given to `flag` among `extra` (e.g. 50ms, 1s), in ms."""
    for i, arg in enumerate(extra):
        value = extra[i + 1] if arg == flag and i + 1 < len(extra) else None
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        if value is not None:
            m = re.fullmatch(r"([0-9.]+)\s*(ms|s)", value)
            if not m:
                sys.exit("cannot read %s %s (write e.g. 50ms or 1s)" % (flag, value))
            return float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
    return default


def median_rows(rows):
    out = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in rows)
    out["eagain"] = max(r["eagain"] for r in rows)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--loads", default="1000,10000,30000,bursts")
    parser.add_argument("--subjects", default="cat,ours-down,ours")
    parser.add_argument("--no-idle", action="store_true")
    parser.add_argument("--loggers", default="1,24",
                        help="numbers of loggers run at once for memory per logger ('' for none)")
    parser.add_argument("--nap-cost", help="the nap_cost example, for the cost of looking")
    parser.add_argument("--pipe-mib", type=int, default=1,
                        help="the logger's pipe in MiB (bench/live.sh sets it up), for the notes")
    parser.add_argument("extra", nargs="*", help="more flags for accesslog-pubsub (after --)")
    args = parser.parse_args()
    # The latency target is batch_max_delay + read_coalesce + 50 ms, as configured.
    args.batch_max_delay_ms = flag_ms(args.extra, "--batch-max-delay", 250)
    args.read_coalesce_ms = flag_ms(args.extra, "--read-coalesce", 20)
    args.emu = Emulator(args.emulator)
    args.next_seq = int(time.time() * 1000) % 1_000_000 * 1_000_000
    publish_times(args.emu, args.sub, 0, timeout=5)

    results = {}
    for load in filter(None, args.loads.split(",")):
        load = load if load == "bursts" else int(load)
        for name in args.subjects.split(","):
            rows = []
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory() as workdir:
                    rows.append(run_one(args, name, load, workdir))
            results[(load, name)] = median_rows(rows)
        print_table(load, [results[(load, n)] for n in args.subjects.split(",")])
    idle_row = None
    if not args.no_idle:
        with tempfile.TemporaryDirectory() as workdir:
            idle_row = idle(args, workdir)
        print("idle (ours, %d s): %.3f ms CPU per second, %.2f wake-ups per second\n"
              % (IDLE_SECONDS, idle_row[0], idle_row[1]))
    many_rows = [many(args, int(n)) for n in args.loggers.split(",") if n]
    if many_rows:
        print_many(many_rows)
    print_targets(args, results, idle_row)
    if args.nap_cost:
        print_floor(args, results)
    failed = [k for k, r in results.items() if r["subject"] == "ours" and
              (r["exit"] != 0 or r["delivered"].split("/")[0] != r["delivered"].split("/")[1])]
    failed += ["%d loggers" % r["loggers"] for r in many_rows if not r["ok"]]
    if failed:
        print("FAILED: %s (exit status or deliveries above)" % failed, file=sys.stderr)
        sys.exit(1)


def print_table(load, rows):
    title = "bursts of %d lines" % BURST if load == "bursts" else "%d lines/s" % load
    print("### %s\n" % title)
    print("| subject | lines | CPU µs/line | wake-ups/s | wake-ups/line | peak RSS MB | PSS MB | "
          "anon MB | EAGAIN | latency p50/p99/max ms | delivered |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        latency = ("%.0f / %.0f / %.0f" % (r["p50"], r["p99"], r["max"])) if "p50" in r else ""
        print("| %s | %d | %.2f | %.0f | %.3f | %.1f | %.1f | %.1f | %d | %s | %s |" % (
            r["subject"], r["lines"], r["cpu_us_per_line"], r["wakeups_per_s"],
            r["wakeups_per_line"], r["hwm_mb"], r["pss_mb"], r["anon_mb"], r["eagain"],
            latency, r.get("delivered", "")))
    print()


def print_targets(args, results, idle_row):
    print("### targets (same run)\n")
    p99_limit = args.batch_max_delay_ms + args.read_coalesce_ms + 50
    for load in (1000, 10000, 30000, "bursts"):
        cat = results.get((load, "cat"))
        if not cat:
            continue
        for name, limit in (("ours", 1.0 if load in (1000, 10000) else None),
                            ("ours-down", 0.5 if load in (1000, 10000) else None)):
            r = results.get((load, name))
            if not r:
                continue
            ratio = r["cpu_us_per_line"] / cat["cpu_us_per_line"]
            verdict = "" if limit is None else (" (target <= %.1fx: %s)" % (
                limit, "met" if ratio <= limit else "NOT met"))
            print("- %s at %s: %.2fx cat's CPU per line%s" % (name, load, ratio, verdict))
        ours = results.get((load, "ours"))
        if ours and "p99" in ours:
            print("- ours at %s: p99 latency %.0f ms (target <= %.0f ms: %s)" % (
                load, ours["p99"], p99_limit, "met" if ours["p99"] <= p99_limit else "NOT met"))
        for name in ("ours", "ours-down", "cat"):
            r = results.get((load, name))
            if r and r["eagain"]:
                print("- %s at %s: the writer would have blocked %d times" % (name, load, r["eagain"]))
    if idle_row:
        cpu, wakes = idle_row
        print("- idle: %.3f ms CPU/s (target < 0.2: %s), %.2f wake-ups/s (target < 2: %s)" % (
            cpu, "met" if cpu < 0.2 else "NOT met", wakes, "met" if wakes < 2 else "NOT met"))
    print()


def burst_write_ms():
    """How long the burst writer takes to write BURST lines into a pipe `cat` drains."""
    read_end, write_end = os.pipe()
    drain = subprocess.Popen(["cat"], stdin=read_end, stdout=subprocess.DEVNULL)
    os.close(read_end)
    data = [line(i) for i in range(BURST)]
    start = time.monotonic()
    for chunk in data:
        os.write(write_end, chunk)
    took = time.monotonic() - start
    os.close(write_end)
    drain.wait()
    return took * 1000, sum(map(len, data))


def nap_cpu_us(nap_cost, nap_ms):
    """CPU of one nap of a thread that does nothing else (bench/nap_cost.rs)."""
    out = subprocess.run([nap_cost, str(nap_ms)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def print_floor(args, results):
    """What one look at the pipe per nap costs on this machine, against the 1,000 lines/s
    targets (the reader looks every 5 ms per MiB of pipe), and whether a burst fits."""
    took_ms, size = burst_write_ms()
    nap_ms = 5 * args.pipe_mib
    nap_us = nap_cpu_us(args.nap_cost, nap_ms)
    capacity = args.pipe_mib << 20
    print("### the cost of looking (this machine, a %d MiB pipe)\n" % args.pipe_mib)
    print("- the burst writer writes %d lines (%.1f MB) in %.1f ms (%.0f MB/s); the reader looks "
          "at a quiet pipe every %d ms" % (BURST, size / 1e6, took_ms, size / took_ms / 1e3,
                                           nap_ms))
    if size <= capacity:
        print("- a burst fits in the %d MiB pipe whole" % args.pipe_mib)
    else:
        print("- a burst does not fit in the %d MiB pipe: it fills in %.1f ms, and if that is "
              "less than the time to the next look, the writer waits"
              % (args.pipe_mib, capacity / (size / took_ms)))
    print("- one nap costs %.1f µs of CPU (bench/nap_cost.rs): %d looks/s are %.2f µs per line "
          "at 1,000 lines/s, before any read or write"
          % (nap_us, 1000 // nap_ms, nap_us / nap_ms))
    cat = results.get((1000, "cat"))
    if cat:
        print("- at 1,000 lines/s cat costs %.2f µs/line: the ours-down target (0.5x) is %.2f "
              "µs/line, the ours target (1.0x) %.2f" % (
                  cat["cpu_us_per_line"], cat["cpu_us_per_line"] / 2, cat["cpu_us_per_line"]))
    print()


if __name__ == "__main__":
    main()
