"""`kubenetlab compare`: the article's table, measured — the same tests across data paths.

One 2-node lab per profile, all up at once; repeats are interleaved (run 1 of every
profile, then run 2, …) so that drift on a noisy host spreads over all rows alike.
The underlay baseline is node → node over the fabric, with no overlay and no pod veth.
The built-in driver's own cost is measured on the baseline path against sockperf,
because TCP_CRR has no Debian tool and is measured by that driver.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kubenetlab import stacks
from kubenetlab.bench import precision, runner
from kubenetlab.bench.placement import POLICIES
from kubenetlab.bench.result import LATENCY_TESTS, TEST_NAMES, BenchResult
from kubenetlab.cluster.settings import ClusterSettings, add_cluster_arguments, cluster_settings
from kubenetlab.errors import EnvironmentProblem, UsageError
from kubenetlab.inputs import csv_list
from kubenetlab.kernel import preflight
from kubenetlab.live import LiveLab, Member, running
from kubenetlab.model import Lab
from kubenetlab.scenarios.base import OnStep, Scenario, ScenarioReport, run_lab_name
from kubenetlab.spec import build_lab

BASELINE = "underlay"
CRR_VIA_SERVICE = "crr_service"  # TCP_CRR pod → ClusterIP, for profiles with a service proxy
RR_VIA_NODEPORT = "rr_nodeport"  # TCP_RR client → node1's NodePort → the backend on node2
VIA_SERVICE = {CRR_VIA_SERVICE: "crr", RR_VIA_NODEPORT: "rr"}  # → the underlay test it is held to
VIA_LABELS = {CRR_VIA_SERVICE: "TCP_CRR via ClusterIP", RR_VIA_NODEPORT: "TCP_RR via NodePort"}
DEFAULT_TESTS = ("rr", "crr", "stream")
CLUSTER_TESTS = ("rr", "crr", "stream")


@dataclass(frozen=True)
class CompareSettings:
    profiles: tuple[str, ...] = stacks.DEFAULT_COMPARE
    tests: tuple[str, ...] = DEFAULT_TESTS
    repeats: int = 5
    duration: float = 2.0
    msg_size: int = 1
    cpus: str = "auto"  # CPU placement policy (bench/placement.py)
    trace: int = 0  # probes per profile for the per-hop breakdown (kubenetlab trace); 0: none
    control_plane: str | None = None  # "kubernetes": the upstream kube-proxy programs nodes
    precision: precision.Target | None = None  # --ci-width: repeat until CIs are this narrow
    cluster: ClusterSettings | None = None  # --kubeconfig: measure that cluster, not labs
    underlay_mtu: int | None = None  # the labs' node MTU (pods: it less the overlay's header)

    def __post_init__(self) -> None:
        from kubenetlab.spec import MTU_RANGE

        if self.underlay_mtu is not None and not MTU_RANGE[0] <= self.underlay_mtu <= MTU_RANGE[1]:
            raise UsageError(
                f"underlay MTU must be {MTU_RANGE[0]}-{MTU_RANGE[1]}, not {self.underlay_mtu}"
            )
        if self.precision is not None:
            self.precision.check(self.repeats)
        if self.control_plane not in (None, "kubernetes"):
            raise UsageError(f"control plane must be kubernetes, not {self.control_plane!r}")
        if not 0 <= self.trace <= 100000:
            raise UsageError(f"trace probes must be 0-100000, not {self.trace}")
        unknown = [t for t in self.tests if t not in TEST_NAMES]
        if unknown or not self.tests:
            known = ", ".join(TEST_NAMES)
            raise UsageError(f"unknown test {(unknown or [''])[0]!r} (known: {known})")
        if self.cluster is not None:
            self._check_cluster()
            return
        twice = next((p for p in self.profiles if self.profiles.count(p) > 1), None)
        if twice:
            raise UsageError(f"profile {twice!r} is given twice")
        resolve_all(self.profiles)
        self.spec(self.tests[0], repeats=self.repeats)

    def _check_cluster(self) -> None:
        """What a cluster run does not do: labs' options, UDP tests, --ci-width."""
        unsupported = [t for t in self.tests if t not in CLUSTER_TESTS]
        if unsupported:
            raise UsageError(
                f"--kubeconfig runs {', '.join(CLUSTER_TESTS)}; not {', '.join(unsupported)}"
            )
        for flag, given in (("--profiles", self.profiles), ("--trace", self.trace),
                            ("--control-plane", self.control_plane),
                            ("--ci-width", self.precision),
                            ("--underlay-mtu", self.underlay_mtu)):  # fmt: skip
            if given:
                raise UsageError(f"{flag} is for labs; with --kubeconfig the cluster is measured")
        self.spec(self.tests[0], repeats=self.repeats)

    def spec(self, test: str, repeats: int = 1, builtin: bool = False) -> runner.BenchSpec:
        return runner.BenchSpec(
            test, self.duration, repeats, self.msg_size, force_builtin=builtin, cpus=self.cpus
        )


@dataclass
class Row:
    name: str
    models: str
    reason: str | None = None  # why it was not measured
    lab: str | None = None
    path: str = ""
    results: dict[str, BenchResult] = field(default_factory=dict)
    overhead_percent: dict[str, float] = field(default_factory=dict)  # vs the underlay
    trace: dict[str, Any] | None = None  # kubenetlab trace of the pod → pod path
    proxy: str | None = None  # which service proxy programmed the nodes (and its version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.name,
            "models": self.models,
            "proxy": self.proxy,
            "measured": self.reason is None,
            "reason": self.reason,
            "lab": self.lab,
            "path": self.path,
            "overhead_percent": self.overhead_percent,
            "results": {test: r.to_dict() for test, r in self.results.items()},
            **({"trace": self.trace} if self.trace else {}),
        }


@dataclass
class CompareReport(ScenarioReport):
    settings: CompareSettings
    rows: list[Row]
    driver_check: dict[str, Any] | None
    seconds: float
    precision: dict[str, Any] | None = None  # --ci-width: target, runs spent, rows missed
    cluster: dict[str, Any] | None = None  # --kubeconfig: the cluster measured
    file_stem = "compare"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "baseline": BASELINE,
            "settings": {
                "profiles": list(self.settings.profiles),
                "tests": list(self.settings.tests),
                "repeats": self.settings.repeats,
                "duration_s": self.settings.duration,
                "msg_size": self.settings.msg_size,
                "cpus": self.settings.cpus,
                "trace_probes": self.settings.trace,
                "control_plane": self.settings.control_plane,
                "underlay_mtu": self.settings.underlay_mtu or 1500,
                "interleaved": True,
                "ci_width_percent": p.width_percent if (p := self.settings.precision) else None,
                "max_repeats": p.max_repeats if p else None,
            },
            "precision": self.precision,
            "rows": [row.to_dict() for row in self.rows],
            "driver_check": self.driver_check,
            **({"cluster": self.cluster} if self.cluster else {}),
            "seconds": round(self.seconds, 1),
        }


def resolve_all(names: tuple[str, ...]) -> list[stacks.Stack]:
    out = []
    for name in names:
        try:
            out.append(stacks.resolve(name))
        except KeyError:
            known = ", ".join(stacks.known_names())
            raise UsageError(f"unknown profile {name!r} (known: {known})") from None
    return out


SERVICE = "bench"  # a NodePort Service whose one backend is node2-pod1
NODE_PORT = 30080


def _lab_for(
    resolved: stacks.Stack, control_plane: str | None = None, underlay_mtu: int | None = None
) -> Lab:
    spec: dict[str, object] = {
        "name": run_lab_name("cmp", resolved.name),
        "profile": resolved.routing,
        "nodes": 2,
        "pods_per_node": 1,
    }
    if underlay_mtu is not None:
        spec["underlay_mtu"] = underlay_mtu
    if resolved.proxy:
        spec["proxy"] = resolved.proxy
        spec["proxy_options"] = dict(resolved.proxy_options)
        spec["services"] = [
            {"name": SERVICE, "type": "NodePort", "port": 80, "node_port": NODE_PORT,
             "pods": ["node2-pod1"]}
        ]  # fmt: skip
        if control_plane:  # a stack without a proxy has nothing for a control plane to feed
            spec["control_plane"] = control_plane
    return build_lab(spec)


@dataclass
class _Target:
    row: Row
    live: LiveLab
    src: Member
    dst: Member


@dataclass(frozen=True)
class _Job:
    """One measurement of a repeat: `key` is its row, `test` the column it fills."""

    target: _Target
    key: str
    spec: runner.BenchSpec
    src: Member
    dst: Member
    test: str


def run_compare(
    settings: CompareSettings, on_step: Callable[[str], None] | None = None
) -> CompareReport:
    started = time.monotonic()
    resolved = resolve_all(settings.profiles)
    for test in settings.tests:
        runner.tool_for(runner.BenchSpec(test))  # exit 3 for a missing tool, before any lab
    if not any(r.available for r in resolved):
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in resolved)
        raise EnvironmentProblem(f"no requested profile can run here ({reasons})")
    preflight.require_root("compare")

    rows = [Row(r.name, r.models, r.reason) for r in resolved]
    with ExitStack() as labs:
        targets = _bring_up([row for row in rows if row.reason is None], labs, settings)
        base = _baseline(targets[0])
        collected, runs = _measure(settings, base, targets, on_step)
        if settings.trace:
            _trace_all(targets, settings.trace, on_step)

    all_rows = [base.row, *rows]
    for row in all_rows:
        for test in (*settings.tests, *VIA_SERVICE):
            if (row.name, test) in collected:
                row.results[test] = runner.merge(collected[(row.name, test)])
    for row in all_rows:
        row.overhead_percent = overhead(row, base.row)
    driver = None
    if ("driver-check", "rr") in collected:
        builtin = runner.merge(collected[("driver-check", "rr")])
        driver = driver_check(builtin, base.row.results["rr"])
    achieved = None
    if settings.precision is not None:
        merged = {
            _label(k): runner.merge(v) for k, v in collected.items() if k[0] != "driver-check"
        }
        achieved = precision.outcome(settings.precision, merged, runs)
    return CompareReport(settings, all_rows, driver, time.monotonic() - started, achieved)


def _label(key: tuple[str, str]) -> str:
    """'cilium TCP_CRR via ClusterIP': a row and test as the table names them."""
    row, test = key
    return f"{row} {VIA_LABELS.get(test) or TEST_NAMES[test]}"


def _bring_up(rows: list[Row], labs: ExitStack, settings: CompareSettings) -> list[_Target]:
    """A 2-node, 1-pod-per-node lab per row, each torn down when `labs` closes."""
    from kubenetlab.controlplane.kubeproxy import implementation

    targets = []
    for row in rows:
        lab = _lab_for(stacks.resolve(row.name), settings.control_plane, settings.underlay_mtu)
        live = labs.enter_context(running(lab))
        src, dst = live.member("node1-pod1"), live.member("node2-pod1")
        row.lab, row.path = live.name, runner.describe_path(src, dst)
        row.proxy = implementation(lab)
        targets.append(_Target(row, live, src, dst))
    return targets


def _baseline(first: _Target) -> _Target:
    """node1 → node2 over the fabric of the first lab: the same underlay every lab has."""
    row = Row(BASELINE, "node → node over the shared L2, no overlay", lab=first.live.name)
    src, dst = first.live.member("node1"), first.live.member("node2")
    row.path = runner.describe_path(src, dst)
    return _Target(row, first.live, src, dst)


def _measure(
    settings: CompareSettings,
    base: _Target,
    targets: list[_Target],
    on_step: Callable[[str], None] | None,
) -> tuple[dict[tuple[str, str], list[BenchResult]], int]:
    """Run 1 of everything, then run 2, …: (row, test) → one single-run result per repeat;
    and the number of rounds. With --ci-width, rounds go on past --repeats until every
    figure's CI is narrow enough or --max-repeats rounds are spent."""
    collected: dict[tuple[str, str], list[BenchResult]] = {}
    jobs = [
        _Job(t, t.row.name, settings.spec(test), t.src, t.dst, test)
        for t in [base, *targets]
        for test in settings.tests
    ]
    jobs += [job for t in targets if t.live.lab.services for job in _service_jobs(t, settings)]
    # The driver check is a check, not a row: once, on the baseline path.
    check = _Job(base, "driver-check", settings.spec("rr", builtin=True), base.src, base.dst, "rr")
    target = settings.precision
    rounds = target.max_repeats if target else settings.repeats
    for repeat in range(rounds):
        extra = [check] if repeat == 0 and "rr" in settings.tests else []
        for job in jobs + extra:
            res = runner.run(job.target.live, job.src, job.dst, job.spec)
            collected.setdefault((job.key, job.test), []).append(res)
            if on_step:
                on_step(f"{job.key} {res.test_name}")
        done = repeat + 1
        enough = target is not None and done >= settings.repeats
        if enough and all(target.met(runner.merge(collected[(j.key, j.test)])) for j in jobs):
            return collected, done
    return collected, rounds


def _trace_all(targets: list[_Target], probes: int, on_step: OnStep | None) -> None:
    """The per-hop breakdown of each profile's pod → pod path, in the same labs."""
    from kubenetlab.trace import trace

    for t in targets:
        doc = trace(t.live, t.src, t.dst, probes).to_dict()
        doc.pop("environment", None)  # the compare document records it once
        t.row.trace = doc
        if on_step:
            on_step(f"{t.row.name} trace")


def _service_jobs(target: _Target, settings: CompareSettings) -> list[_Job]:
    """Through the service proxy: TCP_CRR pod → ClusterIP, and TCP_RR from the external
    client to node1's NodePort, whose one backend is on node2 (SNAT or DSR decides the
    way back)."""
    svc = target.live.service(SERVICE)
    name, jobs = target.row.name, []
    if "crr" in settings.tests:
        dst = Member.of_service(svc, 80)
        jobs.append(_Job(target, name, settings.spec("crr"), target.src, dst, CRR_VIA_SERVICE))
    if "rr" in settings.tests:
        dst = Member.of_node_port(svc, target.live.lab.nodes[0], NODE_PORT)
        client = target.live.member("client")
        jobs.append(_Job(target, name, settings.spec("rr"), client, dst, RR_VIA_NODEPORT))
    return jobs


def steps(settings: CompareSettings) -> int:
    if settings.cluster is not None:
        tests = set(settings.tests)
        per_round = 2 * len(tests) + ("crr" in tests) + ("rr" in tests)
        return settings.repeats * per_round
    runnable = [r for r in resolve_all(settings.profiles) if r.available]
    check = 1 if "rr" in settings.tests else 0  # the driver check, in the first repeat
    traces = len(runnable) if settings.trace else 0
    # With --ci-width the bar counts to --max-repeats and ends early when the target is met.
    rounds = settings.precision.max_repeats if settings.precision else settings.repeats
    return rounds * jobs_per_repeat(settings, runnable) + check + traces


def jobs_per_repeat(settings: CompareSettings, runnable: list[stacks.Stack]) -> int:
    per_proxy = sum(1 for t in ("crr", "rr") if t in settings.tests)
    with_proxy = sum(1 for r in runnable if r.proxy) * per_proxy
    return (len(runnable) + 1) * len(settings.tests) + with_proxy


def overhead(row: Row, base: Row) -> dict[str, float]:
    """Percent change of each headline figure versus the underlay (+ = slower / more)."""
    out: dict[str, float] = {}
    for test, result in row.results.items():
        # Through a Service is compared with the underlay's plain test of the same kind.
        ref = base.results.get(VIA_SERVICE.get(test, test))
        if ref is None:
            continue
        latency = test in LATENCY_TESTS or test in VIA_SERVICE
        keys = ("p50", "p99", "cpu_us_per_txn") if latency else ("gbps", "cpu_s_per_gb")
        for key in keys:
            if key in result.estimates and key in ref.estimates and ref.estimates[key].median:
                mine, theirs = result.estimates[key].median, ref.estimates[key].median
                out[f"{test}.{key}"] = round(100.0 * (mine - theirs) / theirs, 1)
    return out


def driver_check(builtin: BenchResult, sockperf_rr: BenchResult) -> dict[str, Any]:
    b, s = builtin.estimates, sockperf_rr.estimates
    return {
        "path": sockperf_rr.path,
        "builtin_tool": builtin.tool,
        "reference_tool": sockperf_rr.tool,
        "builtin_rr_p50_us": b["p50"].median,
        "reference_rr_p50_us": s["p50"].median,
        "builtin_rr_p99_us": b["p99"].median,
        "reference_rr_p99_us": s["p99"].median,
        "builtin_overhead_p50_us": round(b["p50"].median - s["p50"].median, 1),
        "meaning": "what the built-in driver adds per transaction; "
        "TCP_CRR figures are measured by that driver",
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profiles",
        help=f"comma-separated routing profiles or named stacks "
        f"(default: {','.join(stacks.DEFAULT_COMPARE)}; known: {', '.join(stacks.known_names())})",
    )
    parser.add_argument("--tests", default="rr,crr,stream", help="rr,crr,stream,udp_rr,udp_stream")
    precision.add_arguments(parser, "interleaved runs per test", "every figure's CI half-width")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--msg-size", type=int, default=1, help="request/response bytes (RR)")
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        metavar="PROBES",
        help="also trace each profile's pod → pod path hop by hop with this many probes "
        "(kubenetlab trace; e.g. 2000); 0: no trace",
    )
    parser.add_argument(
        "--cpus",
        choices=POLICIES,
        default="auto",
        help="CPU placement: same, split, none; auto: same for rr/crr, split for streams",
    )
    parser.add_argument("--underlay-mtu", type=int,
                        help="the labs' node MTU (default 1500; AWS: 9001); pods get it less "
                        "their overlay's header")  # fmt: skip
    add_cluster_arguments(parser.add_argument_group("a live cluster instead of labs (cluster mode)"))
    parser.add_argument(
        "--control-plane", choices=("kubernetes",),
        help="run the upstream control plane in each lab, so the upstream kube-proxy (or the "
        "eBPF proxy's API agents) program the nodes (default: kubenetlab's renderer, whose "
        "rules equal kube-proxy's; about 15 s and 450 MB more per lab)",
    )  # fmt: skip


def settings_from(args: argparse.Namespace) -> CompareSettings:
    tests = csv_list(args.tests, "tests")
    target = precision.target_of(args, args.repeats)
    cluster = None
    if args.kubeconfig:
        names = csv_list(args.profiles, "profiles") if args.profiles else ()
        cluster = cluster_settings(args, csv_list(args.nodes, "nodes") if args.nodes else ())
    elif args.dry_run or args.nodes:
        raise UsageError(f"{'--dry-run' if args.dry_run else '--nodes'} needs --kubeconfig")
    else:
        names = csv_list(args.profiles, "profiles") if args.profiles else stacks.DEFAULT_COMPARE
    return CompareSettings(
        names, tests, args.repeats, args.duration, args.msg_size, args.cpus, args.trace,
        args.control_plane, target, cluster, args.underlay_mtu,
    )  # fmt: skip


def preview(settings: CompareSettings, output: str) -> str | None:
    """--dry-run: what a cluster run would create, nothing created."""
    if settings.cluster is None or not settings.cluster.dry_run:
        return None
    from kubenetlab.cluster.compare import dry_run

    return dry_run(settings.cluster, output)


def _run(settings: CompareSettings, on_step: OnStep | None) -> CompareReport:
    if settings.cluster is not None:
        return run_on_cluster(settings, on_step)
    return run_compare(settings, on_step)


def run_on_cluster(settings: CompareSettings, on_step: OnStep | None) -> CompareReport:
    """The underlay and the cluster's pod network, measured in the cluster itself."""
    from kubenetlab.cluster.compare import POD_ROW, TooFewNodes, compare_jobs, measure

    assert settings.cluster is not None
    started = time.monotonic()
    try:
        results, info = measure(settings.cluster, compare_jobs(settings.tests),
                                settings.repeats, settings.spec, on_step)  # fmt: skip
    except TooFewNodes as exc:  # nothing created: both rows said not measured, and why
        rows = [Row(BASELINE, "node → node (host-network pods)", reason=exc.message),
                Row(POD_ROW, "pod → pod on the cluster's CNI", reason=exc.message)]  # fmt: skip
        return CompareReport(settings, rows, None, time.monotonic() - started)
    base = Row(BASELINE, "node → node (host-network pods), no pod network",
               lab=f"cluster://{info.context}")  # fmt: skip
    model = (f"; the lab's model: {info.model}" if info.model
             else "" if info.cni.startswith("unknown")
             else f"; no lab stack models it: {info.model_reason}")  # fmt: skip
    pods = Row(POD_ROW, f"pod → pod on the cluster's CNI ({info.cni}{model})",
               lab=f"cluster://{info.context}", proxy=f"kube-proxy: {info.kube_proxy}")  # fmt: skip
    for (row, test), result in results.items():
        target = base if row == BASELINE else pods
        target.results[test] = result
        if test in settings.tests:
            target.path = result.path
    for row in (base, pods):
        row.overhead_percent = overhead(row, base)
    return CompareReport(settings, [base, pods], None, time.monotonic() - started,
                         cluster=info.to_dict())  # fmt: skip


SCENARIO = Scenario(
    "compare",
    "the same tests across data-path profiles",
    arguments,
    settings_from,
    steps,
    _run,
    "example:\n  kubenetlab compare\n"
    "  kubenetlab compare --profiles native,vxlan --tests rr,stream --repeats 3 --report out\n"
    "  kubenetlab compare --kubeconfig ~/.kube/config --nodes worker-1,worker-2 --dry-run",
    preview,
)
