"""`kubenetlab scenario etp`: what `externalTrafficPolicy` does to a NodePort, measured —
the article's "It preserves the client IP. However, if that node has no pods for that
service, the traffic is dropped."

Per service proxy, a 2-node lab (native routing) with one backend pod, on node2, behind
two NodePort Services: `keep` (policy Local, with kube-proxy's health-check node port) and
`spread` (policy Cluster). The lab's external client connects N times to each Service on
each node's address; the backend (kubenetlab's echo server) answers with the peer address
it saw. A row per proxy × policy × node: requests answered, the source addresses the
backend saw, whether that was the client's, and the health-check status for Local.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kubenetlab.errors import UsageError
from kubenetlab.inputs import csv_list
from kubenetlab.kernel import netns, preflight, procs
from kubenetlab.live import LiveLab, running
from kubenetlab.proxy import PROXIES, proxy
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.spec import build_lab

BACKEND = "node2-pod1"
NODE_PORTS = {"Local": 30080, "Cluster": 30081}
HEALTH_PORT = 32080
# Connect, send "?", print the peer address the echo backend saw (or the error's name).
ASK = """
import json, socket, sys
host, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = []
for _ in range(n):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"?")
            out.append(s.recv(200).decode().split()[1].rsplit(":", 1)[0])
    except (OSError, IndexError) as exc:
        out.append(type(exc).__name__)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class EtpSettings:
    proxies: tuple[str, ...]
    requests: int
    timeout: float
    control_plane: str | None = None  # "kubernetes": the upstream kube-proxy (or API agents)


@dataclass
class Row:
    proxy: str
    policy: str
    node: str
    local_backends: int
    sent: int
    answered: int
    sources_seen: dict[str, int]
    client_ip_kept: bool
    failures: dict[str, int]
    health_check: int | None = None
    implementation: str | None = None  # which service proxy programmed the nodes


@dataclass
class EtpReport(ScenarioReport):
    settings: EtpSettings
    client_ip: str = ""
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    file_stem = "etp"

    @property
    def passed(self) -> bool:
        def ok(r: Row) -> bool:
            if r.policy == "Local" and r.local_backends:
                return r.answered == r.sent and r.client_ip_kept
            if r.policy == "Local":
                return r.answered == 0 and r.health_check == 503
            # Cluster: every node answers; from a node without the backend, only through
            # SNAT. With the backend on the receiving node kube-proxy still masquerades,
            # Cilium's eBPF NodePort does not (the reply passes that node anyway).
            return r.answered == r.sent and (r.local_backends > 0 or not r.client_ip_kept)

        return all(ok(r) for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "schema_version": 1,
            "settings": {"proxies": list(s.proxies), "requests": s.requests,
                         "timeout_s": s.timeout, "policies": list(NODE_PORTS),
                         "control_plane": s.control_plane},
            "client_ip": self.client_ip,
            "backend": BACKEND,
            "tool": "kubenetlab echo backend: answers with the peer address it saw",
            "rows": [asdict(r) for r in self.rows],
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def _spec(proxy_name: str, control_plane: str | None = None) -> dict[str, Any]:
    services = [
        {"name": "keep", "type": "LoadBalancer", "port": 80, "target_port": 8080,
         "node_port": NODE_PORTS["Local"], "external_traffic_policy": "Local",
         "health_check_node_port": HEALTH_PORT, "pods": [BACKEND]},
        {"name": "spread", "type": "NodePort", "port": 80, "target_port": 8080,
         "node_port": NODE_PORTS["Cluster"], "pods": [BACKEND]},
    ]  # fmt: skip
    return {"name": run_lab_name("etp"), "profile": "native", "nodes": 2, "pods_per_node": 1,
            "proxy": proxy_name, "services": services, "control_plane": control_plane}  # fmt: skip


def _ask(live: LiveLab, ip: str, port: int, settings: EtpSettings) -> list[str]:
    argv = [sys.executable, "-c", ASK, ip, str(port), str(settings.requests), str(settings.timeout)]
    wait = settings.requests * settings.timeout * 2 + 30
    out = procs.run_in(
        live.lab.client_netns or "", argv, timeout=wait, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def _health(live: LiveLab, ip: str) -> int:
    with netns.inside(live.lab.client_netns or ""):
        try:
            with urllib.request.urlopen(f"http://{ip}:{HEALTH_PORT}/healthz", timeout=3) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def _rows(proxy_name: str, settings: EtpSettings, report: EtpReport) -> list[Row]:
    from kubenetlab.controlplane.kubeproxy import implementation

    rows = []
    lab = build_lab(_spec(proxy_name, settings.control_plane))
    with running(lab) as live:
        report.client_ip = str(live.lab.client_ip)
        keep = live.service("default/keep")
        for policy, port in NODE_PORTS.items():
            for node in live.lab.nodes:
                seen = _ask(live, str(node.underlay_ip), port, settings)
                addresses = Counter(s for s in seen if s[0].isdigit())
                failures = Counter(s for s in seen if not s[0].isdigit())
                rows.append(Row(
                    proxy_name, policy, node.name, len(keep.local_endpoints(node.name)),
                    len(seen), sum(addresses.values()), dict(addresses),
                    bool(addresses) and set(addresses) == {report.client_ip}, dict(failures),
                    _health(live, str(node.underlay_ip)) if policy == "Local" else None,
                    implementation(lab),
                ))  # fmt: skip
    return rows


def run(settings: EtpSettings, on_step: Callable[[str], None] | None = None) -> EtpReport:
    preflight.require_root("scenario etp")
    for name in settings.proxies:
        preflight.require_tools(PROXIES[name].tools)
    started = time.monotonic()
    report = EtpReport(settings)
    for name in settings.proxies:
        report.rows += _rows(name, settings, report)
        if on_step:
            on_step(f"etp: {name}")
    report.seconds = time.monotonic() - started
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proxy", default="iptables,nftables,ebpf", help="service proxies")
    parser.add_argument("--requests", type=int, default=20, help="connections per node and policy")
    parser.add_argument(
        "--timeout", type=float, default=0.5, help="seconds before a connection counts as dropped"
    )
    parser.add_argument(
        "--control-plane", choices=("kubernetes",),
        help="the upstream control plane in the lab: kube-proxy itself serves the rules and "
        "health checks (default: kubenetlab's renderer and health-check server)",
    )  # fmt: skip


def settings_from(args: argparse.Namespace) -> EtpSettings:
    proxies = csv_list(args.proxy, "proxies")
    for name in proxies:
        proxy(name)  # exit 2 naming the known proxies
    if not 1 <= args.requests <= 10000:
        raise UsageError(f"--requests must be 1-10000, not {args.requests}")
    if not 0.05 <= args.timeout <= 30:
        raise UsageError(f"--timeout must be 0.05-30 seconds, not {args.timeout:g}")
    return EtpSettings(proxies, args.requests, args.timeout, args.control_plane)


SCENARIO = Scenario(
    "etp",
    "externalTrafficPolicy Local vs Cluster on a NodePort: client IP kept, drops, health checks",
    arguments,
    settings_from,
    lambda s: len(s.proxies),
    run,
    "example:\n  kubenetlab scenario etp --proxy iptables,ebpf --requests 50",
)
