"""`kubenetlab scenario service-scale`: what a new connection pays for N Services, per proxy.

One 2-node lab; three backend pods (one on node1, two on node2) serve every Service; the
client pod is on node1. For each proxy and each N: program N Services × 3 endpoints on
node1 (time taken, lines of rule input) — the node whose rules every measured connection
meets: it DNATs the SYN and un-NATs the replies; node2 only forwards — then TCP_CRR (connect, 1 byte
each way, close: the built-in driver, as `compare` uses) to the first and to the last
Service in the table, and the host CPU per connection. The article's claim about iptables
CPU at scale becomes a number for your own N.

With `--control-plane kubernetes` the same lab runs the upstream control plane and the
proxies that follow it — kube-proxy v1.36 on every node (iptables, iptables-legacy,
nftables) or the eBPF proxy's API agents — and the Services are created through the API,
step by step up to each size: the programming time is then from the step's first write
until every node's proxy has them all, and the rule count is kube-proxy's own (nat +
filter, iptables mode; nftables mode and the eBPF agents export none).

On the upstream kube-proxy in iptables mode the Services' order in nat KUBE-SERVICES is
not their creation order: kube-proxy writes its Service map in Go's map order, anew on
every full sync (at least every syncPeriod, 30 s). So there "first" and "last" are read
from node1's KUBE-SERVICES right before each measurement — the Service whose jump a new
connection meets first, and the one it meets last — and the row records each one's rule
position and whether it held through the measurement (`positions`).

`assess` runs it with a population of its own instead (`ScaleSettings.population`): a
cluster's Services replayed with their shapes and endpoint counts (assess/replay.py), on
as many nodes and pods as they need, measured to the first and the last of them.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from kubenetlab.bench import runner
from kubenetlab.bench.result import BenchResult
from kubenetlab.components.backends import start_backends_for
from kubenetlab.components.kubeproxy import metrics
from kubenetlab.controlplane.kubeproxy import MODES, implementation
from kubenetlab.errors import UsageError
from kubenetlab.inputs import csv_ints, csv_list
from kubenetlab.kernel import preflight, procs
from kubenetlab.live import LiveLab, Member, running
from kubenetlab.proxy import PROXIES, node_context, proxy
from kubenetlab.proxy.synthetic import synthetic_services
from kubenetlab.scenarios import api_services
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.services import Endpoint
from kubenetlab.spec import build_lab

LAB = run_lab_name("scale")
CSV_FIGURES = ("p50", "p99", "cpu_us_per_txn")
BACKEND_PODS = ("node1-pod2", "node2-pod1", "node2-pod2")


Slot = tuple[int, int]  # (node index, pod index on it), 0-based


class PopulationService(Protocol):
    key: str
    probe_port: int | None

    def service(self) -> dict[str, Any]: ...

    def endpoint_slice(self, address_of: dict[Slot, tuple[str, str]]) -> dict[str, Any]: ...


class Population(Protocol):
    """Services to create through the API in place of the uniform ones (assess.replay)."""

    @property
    def services(self) -> tuple[PopulationService, ...]: ...

    nodes: int
    pods_per_node: int

    @property
    def namespaces(self) -> list[str]: ...

    @property
    def endpoints(self) -> int: ...

    def backends(self) -> list[Slot]: ...

    def measured(self) -> tuple[PopulationService, PopulationService]: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ScaleSettings:
    sizes: tuple[int, ...] = (100, 1000, 5000, 10000)
    proxies: tuple[str, ...] = ("iptables", "iptables-legacy", "nftables", "ebpf")
    duration: float = 2.0
    repeats: int = 3
    profile: str = "native"
    control_plane: str | None = None  # "kubernetes": upstream kube-proxy / API-fed eBPF agents
    population: Population | None = None  # its Services instead of uniform ones (the API only)

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class ScaleRow:
    proxy: str
    services: int
    program_s: float
    rule_lines: int | None  # lines of rule input the renderer wrote (None on the API)
    first: BenchResult
    last: BenchResult
    implementation: str | None = None  # which proxy programmed the node, and its version
    rules: int | None = None  # kube-proxy's own count, nat + filter (iptables mode, the API)
    endpoints_per_service: float = 3
    # upstream iptables mode: each measured Service's rule in KUBE-SERVICES (see the module)
    positions: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        f, la = self.first.estimates, self.last.estimates
        return {
            "proxy": self.proxy, "services": self.services,
            "endpoints_per_service": round(self.endpoints_per_service, 2),
            "program_seconds": round(self.program_s, 3), "rule_lines": self.rule_lines,
            "rules": self.rules,
            "crr_first": {k: f[k].to_dict() for k in ("p50", "p99", "cpu_us_per_txn") if k in f},
            "crr_last": {k: la[k].to_dict() for k in ("p50", "p99", "cpu_us_per_txn") if k in la},
            "last_minus_first_p50_us": round(la["p50"].median - f["p50"].median, 1),
            "tool": self.first.tool, "implementation": self.implementation,
            "positions": self.positions,
        }  # fmt: skip


@dataclass
class ScaleReport(ScenarioReport):
    settings: ScaleSettings
    rows: list[ScaleRow] = field(default_factory=list)
    seconds: float = 0.0
    file_stem = "service-scale"

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "schema_version": 1,
            "settings": {"sizes": list(s.sizes), "proxies": list(s.proxies), "repeats": s.repeats,
                         "duration_s": s.duration, "profile": s.profile,
                         "control_plane": s.control_plane},
            **({"population": s.population.to_dict()} if s.population else {}),
            "rows": [r.to_dict() for r in self.rows],
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def validate(settings: ScaleSettings) -> None:
    for name in settings.proxies:
        proxy(name)
    if not settings.sizes or any(n < 1 or n > 60000 for n in settings.sizes):
        raise UsageError("services must be sizes from 1 to 60000")
    if settings.control_plane not in (None, "kubernetes"):
        raise UsageError(f"control plane must be kubernetes, not {settings.control_plane!r}")
    if settings.control_plane and max(settings.sizes) > api_services.MAX_SERVICES:
        raise UsageError(
            f"services: at most {api_services.MAX_SERVICES:,} through the lab's API server "
            f"(not {max(settings.sizes):,}): it and a kube-proxy sync must fit this machine"
        )
    if settings.population is not None:
        if settings.control_plane != "kubernetes":
            raise UsageError("a population of Services is created through the API: "
                             "control plane kubernetes")  # fmt: skip
        if settings.sizes != (len(settings.population.services),):
            raise UsageError("with a population, the one size is its Service count")
    runner.BenchSpec("crr", settings.duration, settings.repeats)


def run(settings: ScaleSettings, on_step: Callable[[str], None] | None = None) -> ScaleReport:
    preflight.require_root("scenario service-scale")
    for name in settings.proxies:
        preflight.require_tools(PROXIES[name].tools)
    started = time.monotonic()
    report = ScaleReport(settings)
    rows_for = _rows_on_api if settings.control_plane == "kubernetes" else _rows_for
    if settings.population is not None:
        rows_for = _rows_of_population
    for name in settings.proxies:
        report.rows += rows_for(name, settings, on_step)
    report.seconds = time.monotonic() - started
    return report


def _backends(live: LiveLab) -> list[tuple[str, str]]:
    """The three backend pods serving :8080, as (IP, node) endpoints."""
    pods = {p.name: p for p in live.lab.pods}
    start_backends_for(live.lab, live.ledger, {n: [8080] for n in BACKEND_PODS})
    return [(str(pods[n].ip), pods[n].node) for n in BACKEND_PODS]


def _first_and_last(
    live: LiveLab, targets: list[Member], settings: ScaleSettings, label: str,
    on_step: Callable[[str], None] | None,
) -> list[BenchResult]:  # fmt: skip
    """TCP_CRR from node1-pod1 to the first and the last Service."""
    client = live.member("node1-pod1")
    bench = runner.BenchSpec("crr", settings.duration, settings.repeats)
    results = []
    for target in targets:
        if on_step:
            on_step(f"{label}, TCP_CRR to {target.name}")
        results.append(runner.run(live, client, target, bench))
    return results


SERVICE_JUMP = re.compile(
    r"^-A KUBE-SERVICES -d (\d+\.\d+\.\d+\.\d+)/32 .*--dport (\d+) .*-j KUBE-SVC-"
)


def rule_order(nat: str) -> list[tuple[str, int]]:
    """(ClusterIP, port) of each Service jump in `iptables-save -t nat`'s KUBE-SERVICES,
    in the order a new connection meets them."""
    return [(m[1], int(m[2])) for line in nat.splitlines() if (m := SERVICE_JUMP.match(line))]


def _in_rule_order(proxy_name: str) -> bool:
    """The upstream kube-proxy in iptables mode: its Services sit in KUBE-SERVICES' order."""
    return MODES.get(proxy_name, ("", None))[0] == "iptables"


def _order_now(live: LiveLab, proxy_name: str) -> list[tuple[str, int]] | None:
    """node1's KUBE-SERVICES order now, for the upstream kube-proxy in iptables mode."""
    if not _in_rule_order(proxy_name):
        return None
    family = MODES[proxy_name][1]
    got = procs.run_in(live.lab.nodes[0].netns, [f"iptables-{family}-save", "-t", "nat"],
                       timeout=60, capture_output=True, text=True)  # fmt: skip
    return rule_order(got.stdout)


def _first_and_last_in_rules(
    live: LiveLab, proxy_name: str, candidates: list[Member], settings: ScaleSettings,
    label: str, on_step: Callable[[str], None] | None,
) -> tuple[list[BenchResult], dict[str, Any] | None]:  # fmt: skip
    """TCP_CRR to the candidate whose KUBE-SERVICES jump comes first and to the one whose
    comes last, each read right before it is measured (and again after: `held`); in the
    candidates' own order where there is no rule order (nftables, eBPF)."""
    if not _in_rule_order(proxy_name):
        targets = [candidates[0], candidates[-1]]
        return _first_and_last(live, targets, settings, label, on_step), None
    by_key = {(m.ip, m.port): m for m in candidates}
    results, positions = [], {}
    for which in ("first", "last"):
        order = _order_now(live, proxy_name) or []
        ranked = [key for key in order if key in by_key]
        if not ranked:  # none has a jump (no endpoints): creation order, said
            positions[which] = None
            target = candidates[0 if which == "first" else -1]
            results += _first_and_last(live, [target], settings, label, on_step)
            continue
        key = ranked[0] if which == "first" else ranked[-1]
        rule = order.index(key) + 1
        results += _first_and_last(live, [by_key[key]], settings, label, on_step)
        after = _order_now(live, proxy_name) or []
        positions[which] = {"service": by_key[key].name, "rule": rule, "of": len(order),
                            "held": key in after and after.index(key) + 1 == rule}  # fmt: skip
    return results, positions


def _rows_for(
    name: str, settings: ScaleSettings, on_step: Callable[[str], None] | None
) -> list[ScaleRow]:
    """One lab per proxy, so no proxy's programs or rules sit on another's path (the eBPF
    proxy's hooks see every packet and socket of the node)."""
    spec = {"name": LAB, "nodes": 2, "pods_per_node": 2, "profile": settings.profile}
    lab = build_lab({**spec, "proxy": name} if name == "ebpf" else spec)
    rows = []
    with running(lab) as live:
        eps = [Endpoint(ip, node, pod=pod)
               for pod, (ip, node) in zip(BACKEND_PODS, _backends(live), strict=True)]  # fmt: skip
        impl = PROXIES[name]
        ctx = node_context(lab, lab.nodes[0])  # node1: the client's node
        renderer = implementation(replace(lab, proxy=name))
        for n in sorted(settings.sizes):
            if on_step:
                on_step(f"{name}: programming {n} Services")
            services = synthetic_services(n, eps, lab.service_cidr)
            seconds = impl.program(services, ctx).seconds
            lines = impl.render_services(services, ctx).count("\n")
            targets = [Member.of_service(svc, 80) for svc in (services[0], services[-1])]
            results = _first_and_last(live, targets, settings, f"{name}: {n} Services", on_step)
            rows.append(ScaleRow(name, n, seconds, lines, *results, renderer))
        impl.clear(ctx)
    return rows


def _rows_on_api(
    name: str, settings: ScaleSettings, on_step: Callable[[str], None] | None
) -> list[ScaleRow]:
    """The same measurement on a lab with the upstream control plane, one lab per proxy;
    the Services written to the API in steps up to each size."""
    from kubenetlab.lab import kubeconfig_path

    lab = build_lab({"name": LAB, "nodes": 2, "pods_per_node": 2, "profile": settings.profile,
                     "proxy": name, "control_plane": "kubernetes"})  # fmt: skip
    rows = []
    with running(lab) as live:
        addresses = _backends(live)
        kubeconfig = kubeconfig_path(live.name)
        made: dict[str, str] = {}  # name → ClusterIP
        for n in sorted(settings.sizes):
            if on_step:
                on_step(f"{name}: {n} Services through the API")
            started = time.monotonic()
            names = [f"scale-{i}" for i in range(len(made), n)]
            made.update(api_services.create(kubeconfig, names, lambda _: addresses))
            api_services.wait_programmed(live, name, n + 1)  # + the `kubernetes` Service
            seconds = time.monotonic() - started
            rules = None if name == "ebpf" else metrics(lab.nodes[0]).iptables_rules
            candidates = [api_services.service_member(s, made[s]) for s in made]
            results, positions = _first_and_last_in_rules(
                live, name, candidates, settings, f"{name}: {n} Services", on_step)  # fmt: skip
            rows.append(ScaleRow(name, n, seconds, None, *results, implementation(lab), rules,
                                 positions=positions))  # fmt: skip
    return rows


def _rows_of_population(
    name: str, settings: ScaleSettings, on_step: Callable[[str], None] | None
) -> list[ScaleRow]:
    """The population's Services through the API of a lab with its nodes and pods: every
    pod a slot names serves :8080, node1-pod1 measures the first and the last of them."""
    from kubenetlab.lab import kubeconfig_path

    pop = settings.population
    assert pop is not None
    lab = build_lab({"name": LAB, "nodes": pop.nodes, "pods_per_node": pop.pods_per_node,
                     "profile": settings.profile, "proxy": name,
                     "control_plane": "kubernetes"})  # fmt: skip
    with running(lab) as live:
        pods = {p.name: p for p in live.lab.pods}
        names = {slot: f"node{slot[0] + 1}-pod{slot[1] + 1}" for slot in pop.backends()}
        start_backends_for(live.lab, live.ledger, {n: [8080] for n in names.values()})
        address_of = {slot: (str(pods[n].ip), pods[n].node) for slot, n in names.items()}
        if on_step:
            on_step(f"{name}: {len(pop.services)} Services through the API")
        started = time.monotonic()
        made = api_services.create_population(kubeconfig_path(live.name), pop, address_of)
        api_services.wait_programmed(live, name, len(pop.services) + 1)  # + `kubernetes`
        seconds = time.monotonic() - started
        rules = None if name == "ebpf" else metrics(lab.nodes[0]).iptables_rules
        # measurable ones, the population's own first and last at the ends (the targets
        # where there is no rule order)
        first, last = pop.measured()
        middle = [s for s in pop.services
                  if s.probe_port is not None and s.key not in (first.key, last.key)]  # fmt: skip
        ends = [first, *middle, last] if first.key != last.key else [first]
        candidates = [Member(s.key, "", made[s.key], "", "service", s.probe_port) for s in ends]
        label = f"{name}: {len(pop.services)} Services"
        results, positions = _first_and_last_in_rules(live, name, candidates, settings, label,
                                                      on_step)  # fmt: skip
        per = pop.endpoints / max(len(pop.services), 1)
        return [ScaleRow(name, len(pop.services), seconds, None, *results, implementation(lab),
                         rules, per, positions)]  # fmt: skip


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--services", default="100,1000,5000,10000", help="sizes, comma-separated")
    parser.add_argument(
        "--proxy",
        default="iptables,iptables-legacy,nftables,ebpf",
        help="service proxies to compare",
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--profile", default="native", help="routing profile of the lab")
    parser.add_argument(
        "--control-plane",
        choices=("kubernetes",),
        help="the upstream control plane: kube-proxy v1.36 (or the eBPF proxy's API agents) "
        "programs the nodes from Services created through the API",
    )


def settings_from(args: argparse.Namespace) -> ScaleSettings:
    sizes = csv_ints(args.services, "services")
    proxies = csv_list(args.proxy, "proxies")
    return ScaleSettings(
        sizes, proxies, args.duration, args.repeats, args.profile, args.control_plane
    )


def steps(settings: ScaleSettings) -> int:
    return len(settings.sizes) * len(settings.proxies) * 3


SCENARIO = Scenario(
    "service-scale",
    "rule programming and new-connection cost vs N",
    arguments,
    settings_from,
    steps,
    run,
    "example:\n  kubenetlab scenario service-scale --services 100,1000 --proxy iptables,nftables",
)
