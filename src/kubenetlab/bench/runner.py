"""Run one test between two lab endpoints, R times, and fold the runs into a BenchResult.

Servers are started once per (namespace, kind) and recorded in the lab's ledger, so
`lab down` ends them; clients run in the source namespace and exit by themselves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram

from kubenetlab.bench import iperf3, sockperf
from kubenetlab.bench.cpu import CpuMeter, CpuUsage
from kubenetlab.bench.placement import POLICIES, Placement, available_cpus, place
from kubenetlab.bench.result import LATENCY_TESTS, TEST_NAMES, BenchResult, Run
from kubenetlab.bench.stats import (
    Estimate,
    histogram_of,
    latency_summary_us,
    median_ci,
    new_histogram,
)
from kubenetlab.controlplane.kubeproxy import implementation
from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError
from kubenetlab.kernel import cgroups, procs, sockets
from kubenetlab.kernel.cgroups import Cgroup
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.live import LiveLab, Member
from kubenetlab.model import Lab

PORTS = {
    "sockperf-tcp": 11111,
    "sockperf-udp": 11112,
    "iperf3": 5201,
    "pyrr-tcp": 7001,
    "pyrr-udp": 7002,
    "knl-rr": 7003,
}
PYRR = "kubenetlab-pyrr (built-in Python driver)"
# A run during which the hypervisor took more CPU than this is flagged (never dropped):
# on this kind of VM steal comes in bursts of 10-70 %, and 10 % already moves the tails.
STEAL_FLAG_PERCENT = 10
NATIVE = "kubenetlab knl-rr (built-in C driver)"
NATIVE_MISSING = (
    "the C driver knl-rr is not built (make setup compiles it; needs gcc): the Python "
    "driver stood in, and its latency includes Python's own cost"
)
SOCKPERF_MISSING = (
    "sockperf is not installed (apt-get install -y sockperf): the built-in "
    "Python driver stood in; its latency includes Python's own cost"
)


def native_binary() -> str | None:
    """knl-rr, built by `make setup` into the virtualenv's bin (or anywhere on PATH)."""
    beside = Path(sys.executable).parent / "knl-rr"
    return str(beside) if beside.exists() else shutil.which("knl-rr")


def _builtin() -> tuple[str, str | None]:
    return ("native", None) if native_binary() else ("pyrr", NATIVE_MISSING)


def describe_path(src: Member, dst: Member) -> str:
    if dst.kind == "service" and dst.node:
        return f"{src.kind} → NodePort {dst.ip}:{dst.port} ({dst.name}), through the service proxy"
    if dst.kind == "service":
        return f"{src.kind} → ClusterIP {dst.ip}:{dst.port} ({dst.name}), through the service proxy"
    where = "same node" if src.node == dst.node else "other node"
    if src.kind == dst.kind == "node":
        return "node → node over the underlay (no overlay, no pod veth)"
    return f"{src.kind} → {dst.kind}, {where}"


@dataclass(frozen=True)
class BenchSpec:
    test: str
    duration: float = 2.0
    repeats: int = 5
    msg_size: int = 1
    warmup: float = 0.4  # built-in driver; sockperf has its own 400 ms, iperf3 omits 1 s
    force_builtin: bool = False
    stream_len: int | None = None  # iperf3 -l; None: TCP default, UDP payload = MTU − 28
    cpus: str = "auto"  # CPU placement policy (bench/placement.py)

    def __post_init__(self) -> None:
        if self.test not in TEST_NAMES:
            raise UsageError(f"unknown test {self.test!r} (known: {', '.join(TEST_NAMES)})")
        if self.repeats < 1 or self.repeats > 100:
            raise UsageError(f"repeats must be 1-100, not {self.repeats}")
        if not 1 <= self.duration <= 600:
            raise UsageError(f"duration must be 1-600 s, not {self.duration}")
        if not 1 <= self.msg_size <= 65000:
            raise UsageError(f"message size must be 1-65000 bytes, not {self.msg_size}")
        if self.stream_len is not None and not 1 <= self.stream_len <= 65507:
            raise UsageError(f"stream length must be 1-65507 bytes, not {self.stream_len}")
        if self.cpus not in POLICIES:
            raise UsageError(f"CPU placement must be {', '.join(POLICIES)}, not {self.cpus!r}")

    @property
    def placement(self) -> Placement:
        return place(self.cpus, self.test)


def tool_for(spec: BenchSpec, dst_kind: str = "pod") -> tuple[str, str | None]:
    """('sockperf'|'iperf3'|'native'|'pyrr', why a fallback stood in or None); exit 3 when
    a required tool is missing."""
    if dst_kind == "service":
        if spec.test not in ("rr", "crr"):
            raise UsageError(
                f"--test {spec.test} cannot target a Service (rr and crr can): its "
                "backends answer requests, they run no stream server"
            )
        return _builtin()  # the backends echo; sockperf/iperf3 servers are not behind the VIP
    if spec.test in ("stream", "udp_stream"):
        if shutil.which("iperf3") is None:
            raise EnvironmentProblem("`iperf3` is not installed: apt-get install -y iperf3")
        return "iperf3", None
    if spec.test == "crr" or (spec.force_builtin and spec.test == "rr"):
        return _builtin()  # no Debian tool does TCP_CRR (netperf is not packaged)
    if spec.force_builtin:
        return "pyrr", None
    if shutil.which("sockperf") is None:
        return "pyrr", SOCKPERF_MISSING
    return "sockperf", None


def check_pair(src: Member, dst: Member, spec: BenchSpec) -> None:
    """A test this pair can run: from a pod or node, to something else that can answer."""
    if src.kind not in ("pod", "node"):
        raise UsageError("--from must be a pod or node")
    if dst.kind == "fabric":
        raise UsageError("--to fabric: the fabric is a bridge with no address to measure")
    tool_for(spec, dst.kind)
    if src == dst:
        raise UsageError("--from and --to are the same endpoint")


class Servers:
    """Long-running servers in destination namespaces, started on first use."""

    def __init__(
        self, ledger: Ledger, cpus: frozenset[int] | None = None, cgroup: Cgroup | None = None
    ) -> None:
        self.ledger = ledger
        self.cpus = cpus  # where servers must run (None: anywhere)
        self.cgroup = cgroup  # where their CPU time is counted

    def stop(self, dst: Member) -> None:
        """End dst's servers: after a failed run one may be stuck writing to a dead
        connection (sockperf's server is single-threaded), so the next run starts anew."""
        servers = [
            p for p in self.ledger.processes
            if p.netns == dst.netns and p.role.startswith("server:")
        ]  # fmt: skip
        for p in servers:
            procs.end_recorded(p)
        self.ledger.forget_processes(lambda p: p in servers)

    def ensure(self, dst: Member, kind: str, argv: list[str], udp: bool) -> None:
        if dst.kind == "service":
            return  # the Service's backends are serving already
        role = f"server:{kind}"
        port = PORTS[kind]
        wanted = self.cpus if self.cpus is not None else frozenset(available_cpus())
        for p in list(self.ledger.processes):
            if p.netns == dst.netns and p.role == role and procs.is_running(p):
                assert p.pid is not None
                if procs.affinity(p.pid) == wanted:
                    return
                procs.end_recorded(p)  # placed elsewhere: start it where this run wants it
                self.ledger.forget_processes(lambda q, p=p: q is p)
        procs.spawn(
            self.ledger,
            dst.netns,
            argv,
            role=role,
            cpus=self.cpus,
            cgroup=self.cgroup.procs_file if self.cgroup else None,
        )
        deadline = time.monotonic() + 5
        while not sockets.listening(dst.netns, port, udp=udp):
            if time.monotonic() > deadline:
                raise KnlError(f"{argv[0]} server in {dst.name} did not open port {port} in 5 s")
            time.sleep(0.02)


def _pyrr_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubenetlab.bench.pyrr", *args]


def _run_client(
    ns: str,
    argv: list[str],
    timeout: float,
    cpus: frozenset[int] | None = None,
    cgroup: Cgroup | None = None,
) -> str:
    try:
        result = procs.run_in(
            ns,
            argv,
            timeout=timeout,
            cpus=cpus,
            cgroup=cgroup.procs_file if cgroup else None,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        raise KnlError(f"{argv[0]} client did not finish in {timeout:.0f} s") from None
    if result.returncode != 0:
        raise KnlError(f"{argv[0]} client failed: {_client_error(result)}")
    return result.stdout + result.stderr


def _client_error(result: subprocess.CompletedProcess[str]) -> str:
    try:  # iperf3 -J reports its error inside the JSON document
        return str(json.loads(result.stdout)["error"])
    except (ValueError, KeyError, TypeError):
        detail = (result.stderr or result.stdout).strip().splitlines()
        return detail[-1] if detail else f"exit code {result.returncode}"


@dataclass
class RunContext:
    lab: Lab
    src: Member
    dst: Member
    spec: BenchSpec
    servers: Servers
    meter: CpuMeter
    placement: Placement

    @property
    def udp(self) -> bool:
        return self.spec.test in ("udp_rr", "udp_stream")

    def measure(self, argv: list[str], timeout: float) -> tuple[str, CpuUsage]:
        """The client in the source namespace, its CPU and the server's metered."""
        self.meter.start()
        text = _run_client(
            self.src.netns, argv, timeout, self.placement.client, self.servers.cgroup
        )
        return text, self.meter.stop()


def _sockperf_run(ctx: RunContext, index: int) -> tuple[Run, HdrHistogram, str | None]:
    kind = "sockperf-udp" if ctx.udp else "sockperf-tcp"
    port = PORTS[kind]
    ctx.servers.ensure(ctx.dst, kind, sockperf.server_argv(port, ctx.udp), ctx.udp)
    with tempfile.TemporaryDirectory(prefix="knl-bench-") as tmp:
        log = str(Path(tmp) / "full.csv")
        argv = sockperf.client_argv(
            ctx.dst.ip, port, ctx.udp, ctx.spec.duration, ctx.spec.msg_size, log
        )
        text, usage = ctx.measure(argv, timeout=ctx.spec.duration + 30)
        summary = sockperf.parse_summary(text)
        hist = histogram_of(sockperf.parse_full_log(Path(log).read_text()))
    run_ = Run(
        index,
        usage.seconds,
        summary.received,
        latency_summary_us(hist),
        cpu=usage.to_dict(),
        tool_report=summary.to_dict(),
    )
    return run_, hist, summary.version


def _native_run(ctx: RunContext, index: int) -> tuple[Run, HdrHistogram, str | None]:
    binary = native_binary()
    assert binary is not None
    port = str(ctx.dst.port or PORTS["knl-rr"])
    ctx.servers.ensure(ctx.dst, "knl-rr", [binary, "server", port], udp=False)
    spec = ctx.spec
    argv = [binary, "client", spec.test, ctx.dst.ip, port, str(spec.duration), str(spec.warmup)]
    return _samples_run(ctx, index, [*argv, str(spec.msg_size)])


def _pyrr_run(ctx: RunContext, index: int) -> tuple[Run, HdrHistogram, str | None]:
    kind = "pyrr-udp" if ctx.udp else "pyrr-tcp"
    port = str(ctx.dst.port or PORTS[kind])
    server = _pyrr_argv("server", "--port", port, *(["--udp"] if ctx.udp else []))
    ctx.servers.ensure(ctx.dst, kind, server, ctx.udp)
    spec = ctx.spec
    argv = _pyrr_argv(
        "client",
        "--mode",
        "udp_rr" if ctx.udp else spec.test,
        "--host",
        ctx.dst.ip,
        "--port",
        port,
        "--duration",
        str(spec.duration),
        "--warmup",
        str(spec.warmup),
        "--size",
        str(spec.msg_size),
    )
    return _samples_run(ctx, index, argv)


def _samples_run(
    ctx: RunContext, index: int, argv: list[str]
) -> tuple[Run, HdrHistogram, str | None]:
    """A built-in driver's client: one JSON line with every sample after the warm-up."""
    spec = ctx.spec
    text, usage = ctx.measure(argv, timeout=spec.duration + spec.warmup + 30)
    out = json.loads(text.strip().splitlines()[-1])
    hist = histogram_of(out["samples_ns"])
    report = {"lost": out["lost"], "seconds": out["seconds"], "valid_seconds": spec.duration}
    if spec.test == "crr":  # ephemeral-port pressure: what the next connect() has to find
        report["time_wait_after"] = sockets.time_wait(ctx.src.netns)
    run_ = Run(
        index,
        usage.seconds,
        out["transactions"],
        latency_summary_us(hist),
        cpu=usage.to_dict(),
        tool_report=report,
    )
    return run_, hist, None


def _iperf3_run(ctx: RunContext, index: int) -> tuple[Run, None, str | None]:
    ctx.servers.ensure(ctx.dst, "iperf3", iperf3.server_argv(PORTS["iperf3"]), udp=False)
    mtu = ctx.lab.underlay_mtu if ctx.src.kind == ctx.dst.kind == "node" else ctx.lab.pod_mtu
    argv = iperf3.client_argv(
        ctx.dst.ip, PORTS["iperf3"], ctx.spec.duration, ctx.udp, mtu - 28, ctx.spec.stream_len
    )
    text, usage = ctx.measure(argv, timeout=ctx.spec.duration + 30)
    try:
        summary = iperf3.parse_json(text[: text.rindex("}") + 1] if "}" in text else text)
    except ValueError as exc:  # iperf3 may exit 0 with an "error" in its JSON
        raise KnlError(str(exc)) from None
    gigabytes = max(summary.bytes_all_intervals, summary.bytes_received) / 1e9
    run_ = Run(
        index,
        usage.seconds,
        None,
        gbps=summary.gbps_received,
        retransmits=summary.retransmits,
        lost_percent=summary.lost_percent,
        cpu=usage.to_dict(),
        cpu_s_per_gb=usage.net_s / gigabytes if gigabytes and usage.net_s is not None else None,
        tool_report=summary.to_dict(),
    )
    return run_, None, summary.version


DRIVERS = {
    "sockperf": _sockperf_run,
    "native": _native_run,
    "pyrr": _pyrr_run,
    "iperf3": _iperf3_run,
}


def run(
    live: LiveLab,
    src: Member,
    dst: Member,
    spec: BenchSpec,
    on_run: Callable[[], None] | None = None,
) -> BenchResult:
    tool, fallback = tool_for(spec, dst.kind)
    lab = live.lab
    with _backends_placed(live, dst, spec.placement) as placement:
        cgroup = cgroups.create(live.name, live.ledger.record_cgroup)
        servers = Servers(live.ledger, placement.server, cgroup)
        meter = CpuMeter(cgroup, placement.cpus)
        ctx = RunContext(lab, src, dst, spec, servers, meter, placement)
        runs, pooled, version = _repeat(ctx, tool, on_run)
    label = {
        "sockperf": f"sockperf {version or ''}".strip(),
        "iperf3": f"iperf3 {(version or '').replace('iperf ', '')}".strip(),
        "pyrr": PYRR,
        "native": NATIVE,
    }[tool]
    result = BenchResult(
        test=spec.test,
        tool=label,
        fallback=fallback is not None,
        lab=lab.name,
        profile=lab.profile,
        src=src.name,
        dst=dst.name,
        dst_ip=dst.ip,
        path=describe_path(src, dst),
        msg_size=_msg_size(tool, spec),
        duration_s=spec.duration,
        runs=runs,
        notes=_notes(tool, fallback, spec, runs),
        placement=placement.to_dict(),
        proxy=implementation(lab),
    )
    if spec.test in LATENCY_TESTS:
        result.histogram = pooled
        result.pooled_latency_us = latency_summary_us(pooled)
    result.estimates = estimates(spec.test, runs)
    return result


def _repeat(
    ctx: RunContext, tool: str, on_run: Callable[[], None] | None
) -> tuple[list[Run], HdrHistogram, str | None]:
    """spec.repeats runs of one driver, pooled."""
    spec, src, dst = ctx.spec, ctx.src, ctx.dst
    runs: list[Run] = []
    pooled = new_histogram()
    version: str | None = None
    for index in range(1, spec.repeats + 1):
        try:
            run_, hist, version = DRIVERS[tool](ctx, index)
            if spec.test in LATENCY_TESTS and not (run_.latency_us or {}).get("observations"):
                raise KnlError(
                    f"{tool} completed no transaction in {spec.duration:g} s from {src.name} "
                    f"to {dst.name}: the path loses every request or reply"
                )
        except KnlError:
            ctx.servers.stop(dst)
            raise
        if run_.transactions and run_.cpu.get("net_s") is not None:
            run_.cpu_us_per_txn = run_.cpu["net_s"] / run_.transactions * 1e6
        if run_.cpu.get("steal_percent", 0.0) > STEAL_FLAG_PERCENT:
            run_.flags.append(
                f"steal {run_.cpu['steal_percent']:.0f}% > {STEAL_FLAG_PERCENT}%: kept, but "
                "the hypervisor took CPU from this run"
            )
        if hist is not None:
            pooled.add(hist)
        runs.append(run_)
        if on_run is not None:
            on_run()
    return runs, pooled, version


@contextmanager
def _backends_placed(live: LiveLab, dst: Member, placement: Placement) -> Iterator[Placement]:
    """A Service's backends (the lab's own processes, by PID) pinned as a server would be
    for the run, and let go afterwards; without any, the placement says they are not."""
    if dst.kind != "service" or placement.client is None:
        yield placement
        return
    pids = _backend_pids(live, dst)
    if not pids or placement.server is None:
        yield dataclasses.replace(
            placement, server=None, note="the Service's backends are not pinned"
        )
        return
    for pid in pids:
        os.sched_setaffinity(pid, placement.server)
    try:
        yield dataclasses.replace(placement, note="the Service's backends pinned as the server")
    finally:
        for pid in pids:
            with suppress(OSError):  # ended meanwhile
                os.sched_setaffinity(pid, available_cpus())


def _backend_pids(live: LiveLab, dst: Member) -> list[int]:
    """The running backends of the Service `dst` reaches (by ClusterIP or NodePort)."""
    pods: set[str] = set()
    for svc in live.lab.services:
        ports = {p.node_port for p in svc.ports} if dst.node else {p.port for p in svc.ports}
        if (dst.node or svc.cluster_ip == dst.ip) and dst.port in ports:
            pods |= {e.pod for e in svc.ready_endpoints() if e.pod}
    netns = {p.netns for p in live.lab.pods if p.name in pods}
    return [
        p.pid for p in live.ledger.processes
        if p.role == "backend" and p.netns in netns and p.pid and procs.is_running(p)
    ]  # fmt: skip


def _msg_size(tool: str, spec: BenchSpec) -> int:
    if tool == "sockperf":
        return max(sockperf.MIN_MSG_SIZE, spec.msg_size)
    if tool == "iperf3" and spec.stream_len:
        return spec.stream_len
    return spec.msg_size


def merge(results: list[BenchResult]) -> BenchResult:
    """One result from runs measured apart (compare interleaves profiles run by run)."""
    first = results[0]
    runs = [r for res in results for r in res.runs]
    for index, r in enumerate(runs, start=1):
        r.index = index
    merged = BenchResult(**{**first.__dict__, "runs": runs, "estimates": {}, "notes": []})
    merged.notes = list(dict.fromkeys(n for res in results for n in res.notes))
    if first.histogram is not None:
        pooled = new_histogram()
        for res in results:
            if res.histogram is not None:
                pooled.add(res.histogram)
        merged.histogram = pooled
        merged.pooled_latency_us = latency_summary_us(pooled)
    merged.estimates = estimates(first.test, runs)
    return merged


def _notes(tool: str, fallback: str | None, spec: BenchSpec, runs: list[Run]) -> list[str]:
    notes = []
    steal = max(r.cpu.get("steal_percent", 0.0) for r in runs)
    flagged = sum(1 for r in runs if r.flags)
    if steal > STEAL_FLAG_PERCENT:
        notes.append(
            f"the hypervisor stole up to {steal:.0f}% of CPU during the runs ({flagged} of "
            f"{len(runs)} runs flagged above {STEAL_FLAG_PERCENT}%, none dropped): figures "
            "are noisier and slower than on an idle host"
        )
    if fallback:
        notes.append(fallback)
    if tool == "sockperf" and spec.msg_size < sockperf.MIN_MSG_SIZE:
        notes.append(
            f"sockperf's smallest message is {sockperf.MIN_MSG_SIZE} bytes "
            f"(its header); netperf TCP_RR sends {spec.msg_size}"
        )
    return notes


def estimates(test: str, runs: list[Run]) -> dict[str, Estimate]:
    """Median, CI and CV across runs for each headline metric of `test`."""
    out: dict[str, Estimate] = {}
    if test in LATENCY_TESTS:
        for key in ("p50", "p90", "p99", "p99.9", "max"):
            out[key] = median_ci([r.latency_us[key] for r in runs])
        out["tps"] = median_ci([r.latency_us["observations"] / _measured_seconds(r) for r in runs])
        cpu_key = "cpu_us_per_txn"
    else:
        out["gbps"] = median_ci([r.gbps or 0.0 for r in runs])
        if test == "stream":
            out["retransmits"] = median_ci([float(r.retransmits or 0) for r in runs])
        else:
            out["lost_percent"] = median_ci([r.lost_percent or 0.0 for r in runs])
        cpu_key = "cpu_s_per_gb"
    values = [v for r in runs if (v := getattr(r, cpu_key)) is not None]
    if values:
        out[cpu_key] = median_ci(values)
    return out


def _measured_seconds(run_: Run) -> float:
    """The seconds whose transactions were measured (the tool's warm-up excluded)."""
    return max(1e-9, float(run_.tool_report.get("valid_seconds") or run_.seconds))
