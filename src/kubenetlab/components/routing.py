"""Routing daemons (BIRD for the `bgp` profile), live: configs written, processes started
and recorded, then the wait until every node routes every other node's pod CIDR.

The daemons themselves are planned by the routing profile (`RoutingProfile.daemons`,
pure); this component runs them and shows what they learned (`birdc show protocols`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.errors import KnlError
from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.kernel.routes import routes
from kubenetlab.model import Lab
from kubenetlab.routing import profile_class
from kubenetlab.routing.base import Daemon
from kubenetlab.routing.bird import parse_protocols, peer_protocol

CONVERGE_TIMEOUT_S = 60.0


class RoutingDaemons(Component):
    name = "routing"
    roles = ("bird",)

    def wanted(self, lab: Lab) -> bool:
        return bool(self.plan(lab))

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return profile_class(lab.profile).tools

    def plan(self, lab: Lab) -> list[Daemon]:
        return profile_class(lab.profile)().daemons(lab)

    def start(self, lab: Lab, ledger: Ledger, plan: list[Daemon]) -> dict[str, Any]:
        for daemon in plan:
            _spawn(daemon, ledger)
        return {"converged_seconds": round(wait_converged(lab, ledger), 3)}

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        """Each node's BGP sessions and the routes BIRD installed."""
        nodes = []
        for daemon in self.plan(lab):
            sock = ledger.state_dir / _control_socket(daemon)
            shown = procs.run_in(
                daemon.netns,
                ["birdc", "-s", str(sock), "show", "protocols"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            names = {peer_protocol(p): p.name for p in lab.nodes}
            sessions = [
                {"peer": names.get(s.protocol, s.protocol), **s.to_dict()}
                for s in parse_protocols(shown.stdout)
            ]
            learned = [r for r in routes(daemon.netns) if r["proto"] == "bird"]
            nodes.append({"node": daemon.node, "sessions": sessions, "routes": learned})
        return {"bgp": nodes}


def _control_socket(daemon: Daemon) -> str:
    return next(name for name in daemon.creates if name.endswith(".ctl"))


def _spawn(daemon: Daemon, ledger: Ledger) -> None:
    state = str(ledger.state_dir)
    for name, content in daemon.files.items():
        ledger.state_file(name).write_text(content)
    for name in daemon.creates:
        ledger.state_file(name)  # recorded before the daemon makes it
    log = open(ledger.state_file(daemon.log), "wb") if daemon.log else None  # noqa: SIM115
    try:
        argv = [a.replace("{state}", state) for a in daemon.argv]
        procs.spawn(ledger, daemon.netns, argv, role=daemon.role, stdout=log, stderr=log)
    finally:
        if log is not None:
            log.close()


def missing_routes(lab: Lab) -> list[tuple[str, str]]:
    """(node, peer pod CIDR) pairs with no route yet."""
    missing = []
    for node in lab.nodes:
        have = {r["dst"] for r in routes(node.netns)}
        missing += [
            (node.name, str(peer.pod_cidr))
            for peer in lab.nodes
            if peer is not node and str(peer.pod_cidr) not in have
        ]
    return missing


def wait_converged(lab: Lab, ledger: Ledger, timeout: float = CONVERGE_TIMEOUT_S) -> float:
    """Seconds until every pod CIDR is routed on every node; KnlError after `timeout`."""
    started = time.monotonic()
    while missing := missing_routes(lab):
        dead = [p for p in ledger.processes if p.pid and not procs.alive(p.pid)]
        if dead or time.monotonic() - started > timeout:
            node, cidr = missing[0]
            why = f"{dead[0].role} in {dead[0].netns} exited" if dead else "timed out"
            raise KnlError(
                f"routes did not converge in {timeout:.0f} s ({why}): {node} has no route to "
                f"{cidr}; nothing left behind{_last_log_line(ledger)}"
            )
        time.sleep(0.05)
    return time.monotonic() - started


def _last_log_line(ledger: Ledger) -> str:
    """The daemons' logs go with the lab; quote the last thing one said."""
    for name in ledger.files:
        if name.endswith(".log"):
            try:
                lines = Path(name).read_text(errors="replace").strip().splitlines()
            except OSError:
                continue
            if lines:
                return f" (last log line: {lines[-1].strip()})"
    return ""
