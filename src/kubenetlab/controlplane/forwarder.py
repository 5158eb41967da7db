"""The one way into a lab from the host: a user-space TCP forwarder.

`lab up` binds a listening socket on 127.0.0.1 in the host's namespace (port chosen by the
kernel) and hands it to this process, which it starts inside the lab's control namespace.
A socket keeps the namespace it was made in, so the listener answers on the host's
loopback while every connection this process opens goes to the API server inside the lab.
Nothing is created in the host's network namespace but that listening socket, owned by a
process in the lab's ledger.

    python -m kubenetlab.controlplane.forwarder --fd 3 --to 127.0.0.1:6443
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                s.shutdown(how)


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=5)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubenetlab-forwarder")
    parser.add_argument("--fd", type=int, required=True, help="the inherited listening socket")
    parser.add_argument("--to", required=True, help="HOST:PORT inside this namespace")
    args = parser.parse_args(argv)
    host, port = args.to.rsplit(":", 1)
    listener = socket.socket(fileno=args.fd)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, (host, int(port))), daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
