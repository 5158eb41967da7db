"""HTTP requests for `scenario canary`, run inside a lab namespace.

    python -m kubenetlab.gateway.loadgen --url http://IP:PORT/PATH [--url …] -n N -c C
        [--method M] [--header 'Name: value'] [--host H]

One new TCP connection per request (as `ab` without -k), C threads. With several
--url, request i goes to URL i mod K, so paths compared are measured interleaved.
Prints one JSON document: per request its status, the answering pod (`X-Backend`), the
gateway rule (`X-Gateway-Rule`), the latency from connect to the end of the body in µs,
and the URL's index.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def one(host: str, port: int, method: str, target: str, headers: dict[str, str]) -> list[object]:
    started = time.perf_counter_ns()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, target, headers=headers)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
        backend = resp.getheader("X-Backend") or ""
        rule = resp.getheader("X-Gateway-Rule") or ""
    except OSError as exc:
        status, backend, rule = 0, "", type(exc).__name__
    finally:
        conn.close()
    return [status, backend, rule, (time.perf_counter_ns() - started) // 1000]


def main() -> None:
    parser = argparse.ArgumentParser(prog="kubenetlab.gateway.loadgen")
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("-c", type=int, default=10)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--host", help="Host header")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    urls = [urlsplit(u) for u in args.url]
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if args.host:
        headers["Host"] = args.host
    results: list[list[object]] = []
    lock = threading.Lock()
    issued = [0]

    def worker() -> None:
        while True:
            with lock:
                if issued[0] == args.n:
                    return
                which = issued[0] % len(urls)
                issued[0] += 1
            url = urls[which]
            target = url.path + (f"?{url.query}" if url.query else "")
            row = one(url.hostname or "", url.port or 80, args.method, target, headers)
            with lock:
                results.append([*row, which])

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.c))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(
        {
            "fields": ["status", "backend", "rule", "latency_us", "url"],
            "results": results,
            "seconds": round(time.monotonic() - started, 3),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
