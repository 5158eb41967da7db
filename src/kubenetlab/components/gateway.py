"""The lab's Gateway API gateway, live: nginx in the gateway namespace, serving the
configuration rendered from the lab's HTTPRoutes (gateway/build.py, golden-tested)."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.errors import KnlError
from kubenetlab.gateway.build import listen_ports, nginx_conf
from kubenetlab.kernel import procs, sockets
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab

NGINX = (("nginx", "nginx-light"),)


class Gateway(Component):
    name = "gateway"
    roles = ("gateway",)

    def wanted(self, lab: Lab) -> bool:
        return lab.gateway_netns is not None

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return NGINX

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        assert lab.gateway_netns is not None
        conf = ledger.state_file("nginx-gateway.conf")
        conf.write_text(nginx_conf(lab, str(ledger.state_dir)))
        ledger.state_file("nginx-gateway.pid")  # nginx writes it
        log = ledger.state_file("nginx-gateway.log")
        ledger.state_tree("nginx-gateway.tmp")
        argv = ["nginx", "-e", str(log), "-c", str(conf), "-g", "daemon off;"]
        check = procs.run_in(lab.gateway_netns, [*argv, "-t"], capture_output=True, text=True)
        if check.returncode != 0:
            lines = [x for x in check.stderr.splitlines() if "emerg" in x]
            raise KnlError(
                "nginx rejected the rendered gateway configuration: "
                f"{(lines or check.stderr.splitlines())[-1]}"
            )
        proc = procs.spawn(ledger, lab.gateway_netns, argv, role="gateway", stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        for port in listen_ports(lab):
            while not sockets.listening(lab.gateway_netns, port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text().strip()[-300:]
                    raise KnlError(f"nginx did not open port {port}: {tail}")
                time.sleep(0.02)
        return {}
