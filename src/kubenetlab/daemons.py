"""A lab's routing daemons, live: config files written, processes started and recorded,
then the wait until every node has a route to every other node's pod CIDR."""

from __future__ import annotations

import time
from pathlib import Path

from kubenetlab.errors import KnlError
from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.kernel.routes import routes
from kubenetlab.model import Lab
from kubenetlab.routing.base import Daemon

CONVERGE_TIMEOUT_S = 60.0


def start(daemons: list[Daemon], ledger: Ledger) -> None:
    for daemon in daemons:
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
        dead = [p for p in ledger.processes if p.get("pid") and not procs.alive(p["pid"])]
        if dead or time.monotonic() - started > timeout:
            node, cidr = missing[0]
            why = f"{dead[0]['role']} in {dead[0]['netns']} exited" if dead else "timed out"
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
