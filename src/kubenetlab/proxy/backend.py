"""A Service backend for lab pods: tells who it is and whom it saw, or echoes.

    python -m kubenetlab.proxy.backend --name POD --port P [--port P2 …]

Per connection: an HTTP request (any method) gets an HTTP/1.0 200 with header
X-Backend: <pod> and the body "<pod> <client-ip>:<client-port>", then the request's X-…
headers a line each; a request of exactly "?" gets that first line raw and the
connection closes; anything else is echoed back, so TCP_RR and TCP_CRR work through
the Service. One thread and a selector, like the built-in
RR server, so the backend adds as little as it can to what is measured through it.
"""

from __future__ import annotations

import argparse
import selectors
import socket

HTTP_METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE"}


def _x_headers(request: bytes) -> bytes:
    """The request's X-… headers as received, one per line (name in lower case), so what a
    proxy in front changed (a Gateway API RequestHeaderModifier) can be seen."""
    lines = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    out = []
    for line in lines:
        name, _, value = line.partition(b":")
        if name.lower().startswith(b"x-"):
            out.append(name.lower() + b": " + value.strip() + b"\n")
    return b"".join(sorted(out))


def _reply(name: str, peer: tuple[str, int], data: bytes) -> tuple[bytes, bool]:
    """(bytes to send, close afterwards)."""
    seen = f"{name} {peer[0]}:{peer[1]}\n".encode()
    if data.split(b" ", 1)[0] in HTTP_METHODS and b" HTTP/1." in data.split(b"\r\n", 1)[0]:
        body = seen + _x_headers(data)
        head = (
            f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Backend: {name}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body, True
    if data.strip() == b"?":
        return seen, True
    return data, False


def serve(name: str, ports: list[int]) -> None:
    sel = selectors.DefaultSelector()
    for port in ports:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(1024)
        listener.setblocking(False)
        sel.register(listener, selectors.EVENT_READ, "listen")
    peers: dict[socket.socket, tuple[str, int]] = {}
    while True:
        for key, _ in sel.select():
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if key.data == "listen":
                try:
                    conn, peer = sock.accept()
                except BlockingIOError:
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peers[conn] = peer
                sel.register(conn, selectors.EVENT_READ, "conn")
                continue
            try:
                data = sock.recv(65536)
            except ConnectionError:
                data = b""
            close = not data
            if data:
                out, close = _reply(name, peers[sock], data)
                try:
                    sock.sendall(out)
                except ConnectionError:
                    close = True
            if close:
                sel.unregister(sock)
                peers.pop(sock, None)
                sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="kubenetlab.proxy.backend")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    args = parser.parse_args()
    serve(args.name, sorted(set(args.port)))


if __name__ == "__main__":
    main()
