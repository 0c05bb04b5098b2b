#!/usr/bin/env python3
"""Deterministic generator of realistic Apache `combined` access-log lines for the benchmarks.

Usage: bench/gen_log.py N OUT [--seed S]

Writes N lines to OUT (`-` for stdout). The same N and seed always give the same bytes.
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"" combined
Mix: IPv4 and IPv6 clients, several methods, paths with query strings, statuses
200/304/404/301/500 and 408 with a "-" request, "-" bytes, referers, real-looking user agents
(some with \" escapes), timestamps advancing over one day at +0100. Lines average about
230 bytes.

Every line has its own random client unless --visitors N is given: then N visits are under
way at any time, each line comes from one of them chosen at random, and each visit makes
12 requests on average (its client address and user stay the same) before a new visitor
takes its place, as on a real site where a page brings its images and scripts.
"""

import argparse
import datetime
import random
import sys

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; \\\"FeedFetcher\\\"; +http://example.net/bot)",
    "Mozilla/5.0 (X11; Linux x86_64) \\\"Scanner\\\" AppleWebKit/537.36 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
]
# Browsers dominate real traffic; bots and tools are rarer.
UA_WEIGHTS = [22, 14, 9, 12, 10, 6, 5, 3, 3, 1, 2, 1, 1, 1, 3]

PATHS = [
    "/",
    "/index.html",
    "/search",
    "/products/{id}",
    "/products/{id}/reviews",
    "/api/v1/items/{id}",
    "/api/v1/cart",
    "/static/css/site.{hex}.css",
    "/static/js/app.{hex}.js",
    "/images/{id}.jpg",
    "/blog/{year}/{slug}",
    "/favicon.ico",
    "/robots.txt",
    "/login",
    "/account/orders",
]
QUERIES = [
    "",
    "",
    "",
    "?q={word}",
    "?q={word}+{word}&page={n}",
    "?utm_source=newsletter&utm_medium=email&utm_campaign={word}",
    "?id={id}&sort=price&order=asc",
    "?v={hex}",
]
WORDS = ["shoes", "red", "caf%C3%A9", "laptop", "garden", "sale", "book", "lamp", "blue", "kids"]
METHODS = ["GET"] * 86 + ["POST"] * 9 + ["HEAD"] * 3 + ["PUT", "DELETE"]
STATUSES = [200] * 78 + [304] * 8 + [404] * 6 + [301] * 4 + [500] * 2 + [408] * 2
REFERERS = [
    "-",
    "-",
    "https://www.google.com/",
    "https://www.example.com/",
    "https://www.example.com/products/{id}",
    "https://www.example.com/search?q={word}",
    "https://www.bing.com/search?q={word}&form=QBLH",
    "android-app://com.google.android.gm/",
]
USERS = ["-"] * 97 + ["alice", "bob", "carol"]
PROTOCOLS = ["HTTP/1.1"] * 7 + ["HTTP/2.0"] * 3
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
OFFSET = datetime.timezone(datetime.timedelta(hours=1))
START = datetime.datetime(2026, 3, 14, 0, 0, 0, tzinfo=OFFSET)
SECONDS_PER_DAY = 86400


def fill(template, rng):
    """Replaces the {placeholders} of a path, query or referer template."""
    out = template
    while "{" in out:
        head, rest = out.split("{", 1)
        name, tail = rest.split("}", 1)
        if name == "id":
            value = str(rng.randint(1, 99999))
        elif name == "hex":
            value = "%08x" % rng.getrandbits(32)
        elif name == "year":
            value = str(rng.randint(2019, 2026))
        elif name == "slug":
            value = "-".join(rng.choice(WORDS) for _ in range(3))
        elif name == "word":
            value = rng.choice(WORDS)
        else:
            value = str(rng.randint(1, 20))
        out = head + value + tail
    return out


def client(rng):
    """An IPv4 client most of the time, an IPv6 one otherwise."""
    if rng.random() < 0.8:
        return "%d.%d.%d.%d" % (
            rng.choice([81, 92, 176, 203, 198, 45]),
            rng.randint(0, 255),
            rng.randint(0, 255),
            rng.randint(1, 254),
        )
    return "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))


def timestamp(t):
    return "[%02d/%s/%04d:%02d:%02d:%02d +0100]" % (
        t.day, MONTHS[t.month - 1], t.year, t.hour, t.minute, t.second
    )


class Visitors:
    """N concurrent visits; `None` gives every line a new client."""

    MEAN_REQUESTS = 12

    def __init__(self, rng, n):
        self.rng = rng
        self.visits = [self.new_visit() for _ in range(n)] if n else None

    def new_visit(self):
        return [client(self.rng), self.rng.choice(USERS)]

    def next(self):
        if self.visits is None:
            return client(self.rng), self.rng.choice(USERS)
        i = self.rng.randrange(len(self.visits))
        visit = self.visits[i]
        if self.rng.random() < 1 / self.MEAN_REQUESTS:
            self.visits[i] = self.new_visit()
        return visit


def line(rng, when, visitors):
    status = rng.choice(STATUSES)
    if status == 408:
        request, size, referer, agent = "-", "-", "-", "-"
    else:
        path = fill(rng.choice(PATHS), rng) + fill(rng.choice(QUERIES), rng)
        request = "%s %s %s" % (rng.choice(METHODS), path, rng.choice(PROTOCOLS))
        if status == 304 or rng.random() < 0.03:
            size = "-"
        elif status == 200:
            size = str(int(rng.lognormvariate(8.5, 1.6)) + 1)
        else:
            size = str(rng.randint(180, 600))
        referer = fill(rng.choice(REFERERS), rng)
        agent = rng.choices(USER_AGENTS, UA_WEIGHTS)[0]
    who, user = visitors.next()
    return '%s - %s %s "%s" %d %s "%s" "%s"\n' % (
        who, user, timestamp(when), request, status, size, referer, agent
    )


def main():
    parser = argparse.ArgumentParser(description="Generate a combined access log.")
    parser.add_argument("count", type=int, help="number of lines")
    parser.add_argument("out", help="output file, - for stdout")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--visitors", type=int, default=0,
                        help="concurrent visits whose lines share a client (default: none)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    visitors = Visitors(rng, args.visitors)
    step = SECONDS_PER_DAY / max(args.count, 1)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    with out:
        buffer = []
        for i in range(args.count):
            buffer.append(line(rng, START + datetime.timedelta(seconds=int(i * step)), visitors))
            if len(buffer) == 10000:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))


if __name__ == "__main__":
    main()
