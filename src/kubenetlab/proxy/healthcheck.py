"""kube-proxy's per-Service health-check server (pkg/proxy/healthcheck/service_health.go).

    python -m kubenetlab.proxy.healthcheck --address NODE_IP --state FILE

Listens on every healthCheckNodePort in the state file ({"<port>": {"namespace", "name",
"localEndpoints"}}), re-reading it on each request so endpoint changes show at once.
Any path answers `application/json` with X-Content-Type-Options: nosniff and
X-Load-Balancing-Endpoint-Weight: <n>, status 200 when the node has local endpoints and
503 when it has none; body {"service": {"namespace", "name"}, "localEndpoints": n,
"serviceProxyHealthy": true}.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def response(entry: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    count = int(entry["localEndpoints"])
    body = json.dumps(
        {
            "service": {"namespace": entry["namespace"], "name": entry["name"]},
            "localEndpoints": count,
            "serviceProxyHealthy": True,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Content-Type-Options": "nosniff",
        "X-Load-Balancing-Endpoint-Weight": str(count),
    }
    return (200 if count > 0 else 503), headers, body


def make_handler(state: Path, port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            entry = json.loads(state.read_text())[str(port)]
            status, headers, body = response(entry)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="kubenetlab.proxy.healthcheck")
    parser.add_argument("--address", required=True)
    parser.add_argument("--state", required=True, type=Path)
    args = parser.parse_args()
    ports = [int(p) for p in json.loads(args.state.read_text())]
    servers = [ThreadingHTTPServer((args.address, p), make_handler(args.state, p)) for p in ports]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
