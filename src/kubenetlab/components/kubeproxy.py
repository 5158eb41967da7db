"""The upstream kube-proxy on every lab node (`control_plane: kubernetes` with proxy
iptables, iptables-legacy or nftables): the binary `make setup` built, one process per node
in the node's namespace, configured by controlplane/kubeproxy.py, fed by the lab's API.

It starts after the kubelets, once every Node has its addresses and pod CIDR, and `lab up`
waits for each one's first sync (its /healthz says 200) — or fails with exit 3 and the
process's last log line within 30 s when it crash-loops or cannot sync.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubenetlab import yamlout
from kubenetlab.components.base import Component
from kubenetlab.components.kubernetes import admin_kubeconfig, last_log_line
from kubenetlab.controlplane import kubeproxy, upstream
from kubenetlab.controlplane.kubeproxy import HEALTHZ_PORT, METRICS_PORT, SyncMetrics
from kubenetlab.controlplane.objects import create_config_map
from kubenetlab.errors import EnvironmentProblem, KnlError
from kubenetlab.kernel import cgroups, netns, procs
from kubenetlab.kernel.cgroups import proxy_cgroup
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab, Node
from kubenetlab.proxy import SyncResult

ROLE = "kube-proxy"
READY_SECONDS = 30.0
PATH_TAIL = "/usr/sbin:/usr/bin:/sbin:/bin"


def _get(node: Node, port: int, path: str, timeout: float = 2.0) -> tuple[int, str]:
    """An HTTP GET to kube-proxy's own server on the node's address, from inside the node."""
    url = f"http://{node.underlay_ip}:{port}{path}"
    with netns.inside(node.netns):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


def metrics_text(node: Node, timeout: float = 2.0) -> str:
    """The node's kube-proxy's /metrics, as it serves them (OSError when it does not answer)."""
    return _get(node, METRICS_PORT, "/metrics", timeout)[1]


def metrics(node: Node, timeout: float = 2.0) -> SyncMetrics:
    """The node's kube-proxy's sync metrics (OSError when it does not answer)."""
    return kubeproxy.parse_metrics(metrics_text(node, timeout))


def log_name(node: Node) -> str:
    return f"kube-proxy-{node.name}"


def wait_synced(
    lab: Lab, change: Callable[[], None], seconds: float = 30.0
) -> dict[str, SyncResult]:
    """Make `change` through the API, then wait until every node's kube-proxy has seen an
    endpoint or service change, synced after it and has nothing pending; what each did
    between the two readings of its metrics (syncs' mean duration, full or partial)."""
    before = {n.name: metrics(n) for n in lab.nodes}
    written = time.time()
    change()
    deadline = time.monotonic() + seconds
    out: dict[str, SyncResult] = {}
    while len(out) < len(lab.nodes):
        for node in lab.nodes:
            if node.name in out:
                continue
            now, was = metrics(node), before[node.name]
            seen = (now.endpoint_changes + now.service_changes) > (
                was.endpoint_changes + was.service_changes
            )
            if seen and not now.pending and now.last_timestamp >= written:
                syncs, mean, kind = now.since(was)
                out[node.name] = SyncResult(
                    syncs, round(mean, 4), {"partial": "delta"}.get(kind, kind)
                )
        if time.monotonic() > deadline:
            late = [n.name for n in lab.nodes if n.name not in out]
            raise KnlError(
                f"kube-proxy on {', '.join(late)} did not sync the change in {seconds:.0f} s"
            )
        time.sleep(0.05)
    return out


class UpstreamKubeProxy(Component):
    name = "kube-proxy"
    roles = (ROLE,)

    def wanted(self, lab: Lab) -> bool:
        return kubeproxy.runs_upstream(lab)

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        mode, family = kubeproxy.MODES[lab.proxy or "iptables"]
        return (
            (("nft", "nftables"),)
            if mode == "nftables"
            else ((f"xtables-{family}-multi", "iptables"),)
        )

    def plan(self, lab: Lab) -> dict[str, dict[str, Any]]:
        upstream.program("kube-proxy")  # exit 3 before anything is built
        return {
            n.name: kubeproxy.configuration(lab, n, Path("kube-proxy.kubeconfig"))
            for n in lab.nodes
        }

    def start(self, lab: Lab, ledger: Ledger, plan: dict[str, dict[str, Any]]) -> dict[str, Any]:
        started = time.monotonic()
        binary = str(upstream.program("kube-proxy"))
        kubeconfig = ledger.state_dir / "pki" / "kube-proxy.kubeconfig"
        _mode, family = kubeproxy.MODES[lab.proxy or "iptables"]
        bin_dir = ledger.state_tree("kube-proxy-bin")
        for tool, target in kubeproxy.tool_links(family).items():
            (bin_dir / tool).symlink_to(target)
        env = {**os.environ, "PATH": f"{bin_dir}:{PATH_TAIL}"}
        create_config_map(admin_kubeconfig(ledger), kubeproxy.config_map(lab))
        for node in lab.nodes:
            config = ledger.state_file(f"kube-proxy-{node.name}.yaml")
            config.write_text(yamlout.dump(kubeproxy.configuration(lab, node, kubeconfig)))
            log = open(ledger.state_file(f"{log_name(node)}.log"), "w")  # noqa: SIM115
            # its own CPU account, its iptables-restore/nft children included (scenario churn)
            group = cgroups.create(lab.name, ledger.record_cgroup, proxy_cgroup(node.name))
            procs.spawn(ledger, node.netns, [binary, f"--config={config}", "--v=2"], role=ROLE,
                        stdout=log, stderr=log, env=env,
                        cgroup=group.procs_file if group else None)  # fmt: skip
            log.close()
        first = self._wait_first_sync(lab, ledger)
        return {"kube_proxy": {"version": upstream.KUBERNETES_VERSION,
                               "first_sync_seconds": first,
                               "ready_seconds": round(time.monotonic() - started, 3)}}  # fmt: skip

    @staticmethod
    def _wait_first_sync(lab: Lab, ledger: Ledger) -> dict[str, float]:
        """Until every node's kube-proxy has synced once (/healthz 200)."""
        started = time.monotonic()
        waiting = {n.name: n for n in lab.nodes}
        done: dict[str, float] = {}
        while waiting:
            for name, node in list(waiting.items()):
                try:
                    healthy = _get(node, HEALTHZ_PORT, "/healthz", timeout=1.0)[0] == 200
                except OSError:
                    healthy = False
                if healthy:
                    done[name] = round(time.monotonic() - started, 3)
                    del waiting[name]
            if not waiting:
                break
            dead = {p.netns for p in ledger.processes if p.role == ROLE and not procs.is_running(p)}
            late = [n for n in waiting.values() if n.netns in dead]
            if late or time.monotonic() - started > READY_SECONDS:
                node = late[0] if late else next(iter(waiting.values()))
                why = "exited" if late else f"did not sync in {READY_SECONDS:.0f} s"
                raise EnvironmentProblem(
                    f"kube-proxy on node {node.name} {why}: "
                    f"{last_log_line(ledger, log_name(node)) or 'no log line'} "
                    f"(log: {ledger.state_dir / (log_name(node) + '.log')})"
                )
            time.sleep(0.1)
        return done

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        alive = {p.netns: procs.is_running(p) for p in ledger.processes if p.role == ROLE}
        out = []
        for node in lab.nodes:
            row: dict[str, Any] = {"node": node.name, "version": upstream.KUBERNETES_VERSION,
                                   "running": bool(alive.get(node.netns))}  # fmt: skip
            if not row["running"]:
                row["last_log_line"] = last_log_line(ledger, log_name(node))
                out.append(row)
                continue
            try:
                row["mode"] = _get(node, METRICS_PORT, "/proxyMode")[1].strip()
                m = metrics(node)
            except (OSError, ValueError, KnlError) as exc:
                row["error"] = f"metrics did not answer: {exc}"
            else:
                row.update({
                    "syncs": m.syncs, "full_syncs": m.full, "partial_syncs": m.partial,
                    "last_sync_unix": m.last_timestamp,
                    "last_sync_age_seconds": round(time.time() - m.last_timestamp, 1)
                    if m.last_timestamp else None,
                    "sync_seconds_mean": round(m.mean_seconds, 4) if m.mean_seconds else None,
                    "sync_seconds_p99_bucket": m.quantile(0.99),
                    "pending_changes": m.pending,
                })  # fmt: skip
            out.append(row)
        return {"kube_proxy": out}
