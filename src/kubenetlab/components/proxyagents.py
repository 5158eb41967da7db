"""The eBPF proxy on a Kubernetes lab, fed by the API: one controlplane/proxyagent.py per
node, in the node's namespace (it reaches the API on the fabric, as kube-proxy does, with
kube-proxy's identity and RBAC), programming the node's pinned maps. Replaces the direct
programming of components/proxy.py when `control_plane: kubernetes` and `proxy: ebpf`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.components.kubernetes import last_log_line
from kubenetlab.controlplane.kubeproxy import duration_seconds
from kubenetlab.errors import EnvironmentProblem, KnlError
from kubenetlab.kernel import cgroups, procs
from kubenetlab.kernel.cgroups import proxy_cgroup
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab

ROLE = "proxy-agent"
READY_SECONDS = 30.0


def wanted_for(lab: Lab) -> bool:
    return lab.control_plane == "kubernetes" and lab.proxy == "ebpf"


def read_status(ledger: Ledger, node: str) -> dict[str, Any]:
    try:
        with open(ledger.state_dir / f"proxy-agent-{node}.json") as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {"node": node, "api": "unknown", "applied_rv": 0, "syncs": 0}


def wait_applied(lab: Lab, ledger: Ledger, resource_version: int, seconds: float = 30.0) -> None:
    """Until every node's agent has synced its maps at `resource_version` or later."""
    deadline = time.monotonic() + seconds
    names = [n.name for n in lab.nodes]
    while True:
        late = [n for n in names if read_status(ledger, n).get("applied_rv", 0) < resource_version]
        if not late:
            return
        dead = [p for p in ledger.processes if p.role == ROLE and not procs.is_running(p)]
        if dead or time.monotonic() > deadline:
            node = late[0]
            why = "exited" if dead else f"did not sync resourceVersion {resource_version} in {seconds:.0f} s"
            raise KnlError(
                f"the eBPF proxy agent of node {node} {why}: "
                f"{last_log_line(ledger, f'proxy-agent-{node}') or read_status(ledger, node).get('api')}"
            )
        time.sleep(0.02)


class EbpfProxyAgents(Component):
    name = "proxy-agents"
    roles = (ROLE,)

    def wanted(self, lab: Lab) -> bool:
        return wanted_for(lab)

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        started = time.monotonic()
        kubeconfig = ledger.state_dir / "pki" / "kube-proxy.kubeconfig"
        # 0 means the default (1 s), as kube-proxy's configuration defaulting has it
        period = lab.proxy_options.get("min_sync_period", "1s")
        min_sync = duration_seconds(period) or 1.0
        for node in lab.nodes:
            status = ledger.state_file(f"proxy-agent-{node.name}.json")
            log = open(ledger.state_file(f"proxy-agent-{node.name}.log"), "w")  # noqa: SIM115
            argv = [sys.executable, "-m", "kubenetlab.controlplane.proxyagent",
                    "--lab", lab.name, "--node", node.name, "--kubeconfig", str(kubeconfig),
                    "--status", str(status), "--min-sync-period", str(min_sync)]  # fmt: skip
            group = cgroups.create(lab.name, ledger.record_cgroup, proxy_cgroup(node.name))
            procs.spawn(ledger, node.netns, argv, role=ROLE, stdout=log, stderr=log,
                        cgroup=group.procs_file if group else None)  # fmt: skip
            log.close()
        try:
            wait_applied(lab, ledger, 1, READY_SECONDS)
        except KnlError as exc:
            raise EnvironmentProblem(exc.message) from None
        return {"proxy_agents_synced_seconds": round(time.monotonic() - started, 3)}

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        alive = {p.netns: procs.is_running(p) for p in ledger.processes if p.role == ROLE}
        rows = []
        for node in lab.nodes:
            row = read_status(ledger, node.name)
            row["running"] = bool(alive.get(node.netns))
            if not row["running"]:
                row["last_log_line"] = last_log_line(ledger, f"proxy-agent-{node.name}")
            rows.append(row)
        return {"proxy_agents": rows}

