"""The lab's gateway, live: nginx started in the gateway namespace, recorded in the ledger."""

from __future__ import annotations

import subprocess
import time

from kubenetlab.errors import KnlError
from kubenetlab.gateway.build import listen_ports, nginx_conf
from kubenetlab.kernel import procs, sockets
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab

NGINX = (("nginx", "nginx-light"),)


def start(lab: Lab, ledger: Ledger) -> None:
    assert lab.gateway_netns is not None
    state = str(ledger.state_dir)
    conf = ledger.state_file("nginx-gateway.conf")
    conf.write_text(nginx_conf(lab, state))
    ledger.state_file("nginx-gateway.pid")  # nginx writes it
    log = ledger.state_file("nginx-gateway.log")
    ledger.state_tree("nginx-gateway.tmp")
    argv = ["nginx", "-e", str(log), "-c", str(conf), "-g", "daemon off;"]
    check = procs.run_in(lab.gateway_netns, [*argv, "-t"], capture_output=True, text=True)
    if check.returncode != 0:
        lines = [x for x in check.stderr.splitlines() if "emerg" in x] or check.stderr.splitlines()
        raise KnlError(f"nginx rejected the rendered gateway configuration: {lines[-1]}")
    proc = procs.spawn(ledger, lab.gateway_netns, argv, role="gateway", stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    for port in listen_ports(lab):
        while not sockets.listening(lab.gateway_netns, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise KnlError(f"nginx did not open port {port}: {log.read_text().strip()[-300:]}")
            time.sleep(0.02)
