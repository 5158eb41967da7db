"""Per-node agents, live: one `kubenetlab.agent` per node, in the control namespace (its
loopback reaches etcd), each programming its own node's proxy (iptables/nftables inside
the node's namespace, ebpf through the node's pinned maps) from what etcd holds. Replaces
the direct programming of components/proxy.py when `control_plane: etcd`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.components.etcd import CLIENT_URL
from kubenetlab.errors import KnlError
from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab
from kubenetlab.proxy import proxy_of


def status_file(ledger: Ledger, node: str) -> str:
    return str(ledger.state_file(f"agent-{node}.json"))


def read_status(ledger: Ledger, node: str) -> dict[str, Any]:
    try:
        with open(ledger.state_dir / f"agent-{node}.json") as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {"node": node, "etcd": "unknown", "applied_revision": 0}


def wait_applied(ledger: Ledger, nodes: list[str], revision: int, seconds: float = 15.0) -> None:
    """Until every node's agent has applied `revision` (what a write must wait for)."""
    deadline = time.monotonic() + seconds
    while any(read_status(ledger, n).get("applied_revision", 0) < revision for n in nodes):
        if time.monotonic() > deadline:
            late = [
                n for n in nodes if read_status(ledger, n).get("applied_revision", 0) < revision
            ]
            raise KnlError(
                f"node agents {', '.join(late)} did not apply revision {revision} in {seconds:.0f} s"
            )
        time.sleep(0.01)


class NodeAgents(Component):
    name = "agents"
    roles = ("agent",)

    def wanted(self, lab: Lab) -> bool:
        return bool(lab.services) and lab.control_plane == "etcd"

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return proxy_of(lab).tools

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        assert lab.control_netns is not None
        started = time.monotonic()
        for node in lab.nodes:
            argv = [sys.executable, "-m", "kubenetlab.agent", "--lab", lab.name,
                    "--node", node.name, "--etcd", CLIENT_URL,
                    "--status", status_file(ledger, node.name)]  # fmt: skip
            procs.spawn(ledger, lab.control_netns, argv, role="agent")
        wait_applied(ledger, [n.name for n in lab.nodes], int(ledger.extra.get("etcd_revision", 1)))
        return {"agents_synced_seconds": round(time.monotonic() - started, 3)}

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        return {"agents": [read_status(ledger, n.name) for n in lab.nodes]}
