"""A Service backend for lab pods: tells who it is and whom it saw, or echoes.

    python -m kubenetlab.proxy.backend --name POD --port P [--port P2 …]

Per connection: a request starting with "GET " gets an HTTP/1.0 200 whose body is
"<pod> <client-ip>:<client-port>"; a request of exactly "?" gets that line raw and the
connection closes; anything else is echoed back (TCP_RR/TCP_CRR through the Service).
The response header X-Backend carries the pod name.
"""

from __future__ import annotations

import argparse
import asyncio


def handler(name: str):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        seen = f"{name} {peer[0]}:{peer[1]}"
        try:
            while data := await reader.read(65536):
                if data.startswith(b"GET "):
                    body = (seen + "\n").encode()
                    writer.write(
                        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Backend: "
                        + name.encode()
                        + b"\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                    break
                if data.strip() == b"?":
                    writer.write((seen + "\n").encode())
                    break
                writer.write(data)
                await writer.drain()
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return handle


async def serve(name: str, ports: list[int]) -> None:
    servers = [
        await asyncio.start_server(handler(name), "0.0.0.0", p, backlog=1024, reuse_address=True)
        for p in ports
    ]
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(prog="kubenetlab.proxy.backend")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.name, sorted(set(args.port))))


if __name__ == "__main__":
    main()
