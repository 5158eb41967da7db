"""kubenetlab's built-in request/response driver (TCP_RR, TCP_CRR, UDP_RR), in Python.

No Debian package does TCP_CRR (netperf is not in Debian), so this is the CRR
driver; for RR it is only the fallback when sockperf is missing, and is labelled so.
Python adds its own per-transaction cost: `kubenetlab compare` measures this driver's
RR mode against sockperf on the same path and prints both, so the overhead is known.

    python -m kubenetlab.bench.pyrr server --port P [--udp]
    python -m kubenetlab.bench.pyrr client --mode rr|crr|udp_rr --host H --port P
           --duration S --warmup S --size B        → one JSON line on stdout
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time


def serve_tcp(port: int, size: int) -> None:
    """Echo `size`-byte requests; connections may be long (RR) or one-shot (CRR)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1024)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except ConnectionError:
                data = b""
            if data:
                sock.sendall(data)  # type: ignore[union-attr]
            else:
                sel.unregister(sock)
                sock.close()  # type: ignore[union-attr]


def serve_udp(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(data, peer)


def _recv_exactly(sock: socket.socket, n: int) -> None:
    got = 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise ConnectionError("server closed the connection")
        got += len(chunk)


def run_client(mode: str, host: str, port: int, duration: float, warmup: float, size: int) -> dict:
    payload = b"k" * size
    samples: list[int] = []
    transactions = 0
    clock = time.perf_counter_ns
    started = clock()
    measure_from = started + int(warmup * 1e9)
    end = measure_from + int(duration * 1e9)
    if mode == "rr":
        sock = socket.create_connection((host, port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    elif mode == "udp_rr":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(1.0)
        sock.connect((host, port))
    lost = 0
    while True:
        t0 = clock()
        if t0 >= end:
            break
        if mode == "crr":
            # SO_LINGER 0 would skip TIME_WAIT; netperf's CRR keeps the normal close.
            conn = socket.create_connection((host, port), timeout=5)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(payload)
            _recv_exactly(conn, size)
            conn.close()
        elif mode == "rr":
            sock.sendall(payload)
            _recv_exactly(sock, size)
        else:
            sock.send(payload)
            try:
                sock.recv(65536)
            except TimeoutError:
                lost += 1
                continue
        t1 = clock()
        transactions += 1
        if t0 >= measure_from:
            samples.append(t1 - t0)
    seconds = (clock() - started) / 1e9
    return {"samples_ns": samples, "transactions": transactions, "seconds": seconds, "lost": lost}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubenetlab.bench.pyrr")
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--udp", action="store_true")
    server.add_argument("--size", type=int, default=1)
    client = sub.add_parser("client")
    client.add_argument("--mode", choices=("rr", "crr", "udp_rr"), required=True)
    client.add_argument("--host", required=True)
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--duration", type=float, default=2.0)
    client.add_argument("--warmup", type=float, default=0.4)
    client.add_argument("--size", type=int, default=1)
    args = parser.parse_args(argv)
    if args.role == "server":
        serve_udp(args.port) if args.udp else serve_tcp(args.port, args.size)
        return 0
    result = run_client(args.mode, args.host, args.port, args.duration, args.warmup, args.size)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
