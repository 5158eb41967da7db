"""`kubenetlab scenario churn`: what a service proxy costs while endpoints keep changing —
the article's "I have debugged clusters where 30 % of the CPU was burned just processing
iptables rules", measured on the upstream kube-proxy (issue 27).

Per proxy × Services × minSyncPeriod × churn rate: a lab with the real control plane
(`control_plane: kubernetes`: kube-proxy v1.36 on every node, or the eBPF proxy's API
agents), N selector-less Services with E endpoints each created through the API (the time
the API took is reported), then two windows of `duration` seconds, each with a client in
node1-pod1 opening new connections to a ClusterIP (TCP_CRR):
  quiet   nothing changes;
  churn   an endpoint churner flips the readiness of one endpoint in R EndpointSlices per
          second, round-robin over the N Services, through the API.
Measured per window and node: the CPU of the proxy's own cgroup (kube-proxy and the
iptables-restore / nft it runs, or the eBPF agent) as % of one core and of the node's
CPUs, beside /proc/PID/stat of the process and its children; the API server's and etcd's
CPU; kube-proxy's syncs (count, full vs partial, mean, p50/p99 from its histogram) and its
network-programming latency (kubeproxy_network_programming_duration_seconds, from the
EndpointSlice's last-change-trigger-time); the client's CRR p50/p99 and CPU per connection.
A churner slower than R is reported as the rate it achieved.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.bench import runner
from kubenetlab.bench.result import BenchResult
from kubenetlab.components.kubeproxy import ROLE as KUBE_PROXY_ROLE
from kubenetlab.components.kubeproxy import metrics
from kubenetlab.components.proxyagents import ROLE as AGENT_ROLE
from kubenetlab.components.proxyagents import read_status
from kubenetlab.controlplane.kubeproxy import (
    MODES,
    SyncMetrics,
    bucket_quantile,
    duration_seconds,
    implementation,
    min_sync_period,
)
from kubenetlab.errors import KnlError, UsageError
from kubenetlab.inputs import csv_ints, csv_list
from kubenetlab.kernel import cgroups, preflight, procs
from kubenetlab.kernel.cgroups import proxy_cgroup
from kubenetlab.live import LiveLab, Member, running
from kubenetlab.model import Lab
from kubenetlab.proxy import PROXIES, proxy
from kubenetlab.scenarios import api_services
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.spec import build_lab

MAX_SERVICES = api_services.MAX_SERVICES
CLIENT, SERVER = "node1-pod1", "node2-pod1"


@dataclass(frozen=True)
class ChurnSettings:
    proxies: tuple[str, ...]
    services: tuple[int, ...]
    rates: tuple[float, ...]
    min_sync_periods: tuple[str, ...]
    duration: float = 30.0
    endpoints_per_service: int = 3
    nodes: int = 2

    def __post_init__(self) -> None:
        for n in self.services:
            if not 1 <= n <= MAX_SERVICES:
                raise UsageError(f"services must be 1-{MAX_SERVICES:,}, not {n}")
        for r in self.rates:
            if not 0 <= r <= 500:
                raise UsageError(f"rate must be 0-500 EndpointSlice changes per second, not {r:g}")
        if not 2 <= self.duration <= 3600:
            raise UsageError(f"duration must be 2-3600 s, not {self.duration:g}")
        if not 1 <= self.endpoints_per_service <= 100:
            raise UsageError(
                f"endpoints per service must be 1-100, not {self.endpoints_per_service}"
            )
        if not 2 <= self.nodes <= 20:
            raise UsageError(f"nodes must be 2-20, not {self.nodes}")

    def cells(self) -> list[tuple[str, int, str]]:
        """(proxy, services, minSyncPeriod): one lab each; the rates run in that lab."""
        return [
            (p, n, m) for p in self.proxies for n in self.services for m in self.min_sync_periods
        ]


@dataclass
class NodeCpu:
    node: str
    proxy_percent_of_core: float | None  # the proxy's cgroup (or /proc when none)
    proxy_percent_of_node: float | None
    proc_percent_of_core: float | None  # /proc/PID/stat: the process and its waited children


@dataclass
class Window:
    """One measured window: quiet (no churn) or churn at a rate."""

    name: str
    asked_rate: float
    achieved_rate: float
    changes: int
    seconds: float
    nodes: list[NodeCpu] = field(default_factory=list)
    apiserver_percent_of_core: float | None = None
    etcd_percent_of_core: float | None = None
    syncs: int | None = None  # node1's proxy
    full_syncs: int | None = None
    partial_syncs: int | None = None
    sync_mean_ms: float | None = None
    sync_p50_ms: float | None = None  # bucket upper bounds (Prometheus)
    sync_p99_ms: float | None = None
    programming_p50_ms: float | None = None
    programming_p99_ms: float | None = None
    # kube-proxy iptables mode, node1, at the window's end: rules in nat + filter, and the
    # rules its last sync wrote (nftables mode and the eBPF agents export no such count)
    rules: int | None = None
    rules_last_sync: int | None = None
    crr: dict[str, Any] = field(default_factory=dict)  # the client's TCP_CRR to the ClusterIP

    @property
    def proxy_percent_of_core(self) -> float | None:
        """The busiest node's proxy, % of one core."""
        values = [
            n.proxy_percent_of_core for n in self.nodes if n.proxy_percent_of_core is not None
        ]
        return max(values) if values else None

    @property
    def proxy_percent_of_node(self) -> float | None:
        """The busiest node's proxy, % of all the node's CPUs."""
        values = [
            n.proxy_percent_of_node for n in self.nodes if n.proxy_percent_of_node is not None
        ]
        return max(values) if values else None


@dataclass
class Row:
    proxy: str
    services: int
    min_sync_period: str
    implementation: str | None
    create_seconds: float  # the API accepting N Services + EndpointSlices
    programmed_seconds: float  # until every node's proxy had them
    windows: list[Window] = field(default_factory=list)
    # kube-proxy's iptables family ("nft" or "legacy"); None for nftables mode and eBPF
    iptables_backend: str | None = None


@dataclass
class ChurnReport(ScenarioReport):
    settings: ChurnSettings
    rows: list[Row] = field(default_factory=list)
    cpus: int = 0
    seconds: float = 0.0
    file_stem = "churn"

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "schema_version": 1,
            "settings": {
                "proxies": list(s.proxies), "services": list(s.services), "rates": list(s.rates),
                "min_sync_periods": list(s.min_sync_periods), "duration_s": s.duration,
                "endpoints_per_service": s.endpoints_per_service, "nodes": s.nodes,
            },
            "cpus": self.cpus,
            "tools": {
                "cpu": "cgroup v1 cpuacct (or v2 cpu.stat) of each node's proxy, "
                "/proc/PID/stat (utime+stime+cutime+cstime) beside it",
                "syncs": "kube-proxy's /metrics (kubeproxy_sync_proxy_rules_duration_seconds, "
                "kubeproxy_network_programming_duration_seconds)",
                "rules": "kube-proxy's /metrics (kubeproxy_sync_proxy_rules_iptables_total and "
                "_iptables_last, nat + filter; iptables mode only)",
                "crr": "knl-rr TCP_CRR through kubenetlab bench",
            },
            "rows": [
                {**{k: v for k, v in asdict(r).items() if k != "windows"},
                 "windows": [{**asdict(w), "proxy_percent_of_core": w.proxy_percent_of_core,
                              "proxy_percent_of_node": w.proxy_percent_of_node}
                             for w in r.windows]}
                for r in self.rows
            ],
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def _spec(proxy_name: str, settings: ChurnSettings, period: str) -> dict[str, Any]:
    return {
        "name": run_lab_name("churn", proxy_name[:4]),
        "profile": "native", "nodes": settings.nodes, "pods_per_node": 2, "proxy": proxy_name,
        "control_plane": "kubernetes", "proxy_options": {"min_sync_period": period},
        "services": [{"name": "web", "port": 80, "target_port": 8080, "pods": [SERVER]}],
    }  # fmt: skip


def _endpoints(lab: Lab, i: int, count: int) -> list[tuple[str, str]]:
    """Service i's endpoints: lab pods, round-robin (the same pod may back many Services)."""
    chosen = [lab.pods[(i + k) % len(lab.pods)] for k in range(count)]
    return [(str(pod.ip), pod.node) for pod in chosen]


def _create(kubeconfig: Path, lab: Lab, n: int, per: int) -> float:
    """N Services and their EndpointSlices through the API; the seconds the API took."""
    started = time.monotonic()
    api_services.create(kubeconfig, [f"churn-{i}" for i in range(n)],
                        lambda i: _endpoints(lab, i, per))  # fmt: skip
    return time.monotonic() - started


class Churner(threading.Thread):
    """Flips one endpoint's readiness in `rate` EndpointSlices per second, round-robin."""

    def __init__(self, kubeconfig: Path, lab: Lab, n: int, per: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.kubeconfig, self.lab, self.n, self.per, self.rate = kubeconfig, lab, n, per, rate
        self.stop = threading.Event()
        self.changes = 0
        self.error: str | None = None

    def run(self) -> None:
        from kubernetes import client

        from kubenetlab.controlplane.objects import api_client

        discovery = client.DiscoveryV1Api(api_client(self.kubeconfig))
        started = time.monotonic()
        while not self.stop.is_set():
            due = started + self.changes / self.rate
            if (wait := due - time.monotonic()) > 0 and self.stop.wait(wait):
                break
            i = self.changes % self.n
            down = (self.changes // self.n) % 2 == 0  # odd passes over the slices bring it back
            addresses = _endpoints(self.lab, i, self.per)
            body = api_services.endpoint_slice(f"churn-{i}", addresses, 0 if down else None)
            try:
                discovery.patch_namespaced_endpoint_slice(f"churn-{i}-1", "default", body)
            except Exception as exc:  # an API error ends the churn; reported, never hidden
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                return
            self.changes += 1


def _proc_cpu(live: LiveLab, role: str) -> dict[str, float | None]:
    """netns → CPU seconds so far of the lab's processes of this role (+ waited children)."""
    return {
        p.netns: procs.cpu_seconds(p.pid) for p in live.ledger.processes if p.role == role and p.pid
    }


def _group_cpu(live: LiveLab) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for node in live.lab.nodes:
        group = cgroups.existing(live.name, proxy_cgroup(node.name))
        out[node.name] = group.usage_s() if group else None
    return out


def _delta(after: float | None, before: float | None, seconds: float) -> float | None:
    if after is None or before is None or seconds <= 0:
        return None
    return round((after - before) / seconds * 100, 2)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def _window(
    live: LiveLab, proxy_name: str, churner: Churner | None, settings: ChurnSettings
) -> Window:
    role = AGENT_ROLE if proxy_name == "ebpf" else KUBE_PROXY_ROLE
    node1 = live.lab.nodes[0]
    groups, proc = _group_cpu(live), _proc_cpu(live, role)
    control = {r: _proc_cpu(live, r) for r in ("kube-apiserver", "etcd")}
    before: SyncMetrics | None = None if proxy_name == "ebpf" else metrics(node1)
    agent_syncs = _agent_syncs(live) if proxy_name == "ebpf" else None
    started = time.monotonic()
    if churner is not None:
        churner.start()
    web = live.service("default/web")
    crr = runner.run(live, live.member(CLIENT), Member.of_service(web, 80),
                     runner.BenchSpec("crr", duration=settings.duration, repeats=1))  # fmt: skip
    if churner is not None:
        churner.stop.set()
        churner.join(timeout=30)
        if churner.error:
            raise KnlError(f"the endpoint churner stopped: {churner.error}")
    seconds = time.monotonic() - started
    after_groups, after_proc = _group_cpu(live), _proc_cpu(live, role)
    cpus = len(os.sched_getaffinity(0))
    window = Window(
        "churn" if churner else "quiet",
        churner.rate if churner else 0.0,
        round(churner.changes / seconds, 2) if churner else 0.0,
        churner.changes if churner else 0,
        round(seconds, 2),
        crr=_crr(crr),
    )
    for node in live.lab.nodes:
        core = _delta(after_groups[node.name], groups[node.name], seconds)
        by_proc = _delta(after_proc.get(node.netns), proc.get(node.netns), seconds)
        window.nodes.append(NodeCpu(node.name, core if core is not None else by_proc,
                                    None if core is None else round(core / cpus, 2), by_proc))  # fmt: skip
    for role_name, was in control.items():
        now = _proc_cpu(live, role_name)
        values = [_delta(now.get(ns), cpu, seconds) for ns, cpu in was.items()]
        share = sum(v for v in values if v is not None) if values else None
        if role_name == "etcd":
            window.etcd_percent_of_core = share
        else:
            window.apiserver_percent_of_core = share
    if agent_syncs is not None:
        window.syncs = _agent_syncs(live) - agent_syncs  # map updates (no full/partial)
    if before is not None:
        after = metrics(node1)
        syncs = after.syncs - before.syncs
        window.syncs, window.full_syncs = syncs, after.full - before.full
        window.partial_syncs = after.partial - before.partial
        if syncs:
            window.sync_mean_ms = _ms((after.seconds_total - before.seconds_total) / syncs)
        window.sync_p50_ms = _ms(
            bucket_quantile(after.duration_buckets, before.duration_buckets, 0.5)
        )
        window.sync_p99_ms = _ms(
            bucket_quantile(after.duration_buckets, before.duration_buckets, 0.99)
        )
        programming = (after.programming_buckets, before.programming_buckets)
        window.programming_p50_ms = _ms(bucket_quantile(*programming, 0.5))
        window.programming_p99_ms = _ms(bucket_quantile(*programming, 0.99))
        window.rules, window.rules_last_sync = after.iptables_rules, after.iptables_rules_last_sync
    return window


def _agent_syncs(live: LiveLab) -> int:
    return int(read_status(live.ledger, live.lab.nodes[0].name).get("syncs", 0))


def _crr(result: BenchResult) -> dict[str, Any]:
    est = result.estimates
    return {
        "p50_us": est["p50"].median if "p50" in est else None,
        "p99_us": est["p99"].median if "p99" in est else None,
        "cpu_us_per_connection": est["cpu_us_per_txn"].median if "cpu_us_per_txn" in est else None,
        "tool": result.tool,
        # the CPU the hypervisor took during the window's connections (/proc/stat steal)
        "steal_percent": max(
            (r.cpu.get("steal_percent") or 0.0 for r in result.runs), default=None
        ),
    }


def _row(
    cell: tuple[str, int, str], settings: ChurnSettings, on_step: Callable[[str], None] | None
) -> Row:
    from kubenetlab.lab import kubeconfig_path

    proxy_name, n, period = cell
    lab = build_lab(_spec(proxy_name, settings, period))
    with running(lab) as live:
        kubeconfig = kubeconfig_path(live.name)
        created = _create(kubeconfig, live.lab, n, settings.endpoints_per_service)
        started = time.monotonic()
        api_services.wait_programmed(live, proxy_name, n + 2)  # + web and `kubernetes`
        row = Row(proxy_name, n, period, implementation(lab), round(created, 2),
                  round(created + time.monotonic() - started, 2),
                  iptables_backend=MODES.get(proxy_name, (None, None))[1])  # fmt: skip
        row.windows.append(_window(live, proxy_name, None, settings))
        if on_step:
            on_step(f"{proxy_name} {n:,} Services, quiet")
        for rate in settings.rates:
            if rate <= 0:
                continue
            churner = Churner(kubeconfig, live.lab, n, settings.endpoints_per_service, rate)
            row.windows.append(_window(live, proxy_name, churner, settings))
            if on_step:
                on_step(f"{proxy_name} {n:,} Services, {rate:g} changes/s")
    return row


def run(settings: ChurnSettings, on_step: Callable[[str], None] | None = None) -> ChurnReport:
    preflight.require_root("scenario churn")
    for name in settings.proxies:
        preflight.require_tools(PROXIES[name].tools)
    runner.tool_for(runner.BenchSpec("crr"))
    started = time.monotonic()
    report = ChurnReport(settings, cpus=len(os.sched_getaffinity(0)))
    for cell in settings.cells():
        report.rows.append(_row(cell, settings, on_step))
    report.seconds = time.monotonic() - started
    return report


def steps(settings: ChurnSettings) -> int:
    windows = 1 + sum(1 for r in settings.rates if r > 0)
    return len(settings.cells()) * windows


def arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--proxy", default="iptables,nftables,ebpf",
        help="service proxies: iptables, iptables-legacy, nftables (the upstream kube-proxy), "
        "ebpf (kubenetlab's eBPF proxy fed by the API)")  # fmt: skip
    add("--services", default="1000", help="Services per lab, comma-separated (1-20000)")
    add("--rate", default="1,10", help="EndpointSlice changes per second, comma-separated")
    add("--min-sync-period", default="1s", help="kube-proxy's minSyncPeriod, comma-separated")
    add("--duration", type=float, default=30.0, help="seconds per window (quiet, each rate)")
    add("--endpoints-per-service", type=int, default=3, help="endpoints per EndpointSlice")
    add("--nodes", type=int, default=2, help="lab nodes (each runs a proxy)")


def settings_from(args: argparse.Namespace) -> ChurnSettings:
    proxies = csv_list(args.proxy, "proxies")
    for name in proxies:
        proxy(name)  # exit 2 naming the known proxies
    rates: list[float] = []
    for value in csv_list(args.rate, "rates"):
        try:
            rates.append(float(value))
        except ValueError:
            raise UsageError(
                f"rate must be a number of changes per second, not {value!r}"
            ) from None
    periods = tuple(min_sync_period(p) for p in csv_list(args.min_sync_period, "min sync periods"))
    for p in periods:
        if duration_seconds(p) > 300:
            raise UsageError(f"min sync period must be at most 5m, not {p}")
    return ChurnSettings(
        proxies, csv_ints(args.services, "services"), tuple(rates), periods,
        args.duration, args.endpoints_per_service, args.nodes,
    )  # fmt: skip


SCENARIO = Scenario(
    "churn",
    "a service proxy's CPU and syncs while EndpointSlices churn, on the upstream kube-proxy",
    arguments,
    settings_from,
    steps,
    run,
    "example:\n  kubenetlab scenario churn --proxy iptables,nftables --services 1000,5000 --rate 1,10",
)
