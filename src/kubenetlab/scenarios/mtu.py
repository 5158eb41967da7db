"""`kubenetlab scenario mtu`: what a pod MTU costs, per routing profile, measured.

For each routing profile, 2-node labs with three MTU settings:
  aligned     underlay 1500, pod MTU = 1500 − the profile's encapsulation overhead;
  misaligned  underlay 1500, pod MTU 1500: too large by the overhead (overlays only);
  jumbo       underlay 9000, pod MTU = 9000 − the overhead.
For each message size, pod → pod across nodes: TCP_STREAM and UDP_STREAM (iperf3 -l SIZE:
bytes per write, bytes per datagram) and TCP_RR (sockperf, SIZE bytes each way), with the
kernel's counters (/proc/net/snmp, what nstat reads) read in the four namespaces on the
path before and after: fragments created and reassembled, DF packets a node dropped and
the ICMP "fragmentation needed" it sent back (PMTU events).

A profile's cases run side by side: every run visits each case in turn, so drift on a
noisy host spreads evenly (as `compare` does). The path-MTU cache of both pods is
flushed before every test, so each row shows what a
new flow meets; the cache then lives 10 minutes (net.ipv4.route.mtu_expires) in a real
pod. A run that fails (iperf3's UDP socket gets EMSGSIZE once the ICMP arrives) is
retried once with what the pod has learned, and the failure is kept as a note.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.bench import runner
from kubenetlab.bench.result import BenchResult
from kubenetlab.errors import KnlError, UsageError
from kubenetlab.inputs import csv_ints, csv_list
from kubenetlab.kernel import counters, netns, preflight, rules
from kubenetlab.live import LiveLab, running
from kubenetlab.model import Lab
from kubenetlab.routing import PROFILES, profile_class
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.spec import MTU_RANGE, build_lab
from kubenetlab.stacks import resolve

DEFAULT_PROFILES = ("native", "vxlan", "ipip", "bgp")
# 1400 fits every 1500 path; 1472 fills a 1500 MTU exactly (1472 + 8 UDP + 20 IP);
# 8192 and 65000 are larger than any MTU here except jumbo's for 8192.
DEFAULT_SIZES = (64, 1400, 1472, 8192, 65000)
TESTS = ("stream", "udp_stream", "rr")
TEST_LABELS = {"stream": "TCP_STREAM", "udp_stream": "UDP_STREAM", "rr": "TCP_RR"}
UNDERLAY, JUMBO = 1500, 9000
# yours: the pod MTU --pod-mtu names, on the --underlay-mtu path (a cluster's own setting)
CASE_KINDS = ("aligned", "misaligned", "jumbo", "blackhole", "yours")
DEFAULT_CASES = ("aligned", "misaligned", "jumbo")
# What a firewall or security group that filters ICMP does to the misaligned case: the
# nodes still drop what does not fit, but their "fragmentation needed" never leaves.
BLOCK_FRAG_NEEDED = """table ip knl_mtu_blackhole {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed counter drop
  }
}
"""
IP_UDP_HEADERS = 28


@dataclass(frozen=True)
class MtuCase:
    profile: str
    kind: str  # aligned | misaligned | jumbo | blackhole (misaligned, ICMP filtered) | yours
    underlay_mtu: int
    pod_mtu: int
    overhead: int

    @property
    def path_mtu(self) -> int:
        """The largest pod packet the path carries whole."""
        return self.underlay_mtu - self.overhead


def cases_for(profile: str, underlay: int = UNDERLAY, pod: int | None = None) -> list[MtuCase]:
    """Each case over an `underlay` MTU path (jumbo: 9000, when that is larger); `pod`:
    the pod MTU of the case "yours"."""
    o = profile_class(profile).encap_overhead
    cases = [MtuCase(profile, "aligned", underlay, underlay - o, o)]
    if o:
        cases.append(MtuCase(profile, "misaligned", underlay, underlay, o))
        cases.append(MtuCase(profile, "blackhole", underlay, underlay, o))
    if underlay < JUMBO:
        cases.append(MtuCase(profile, "jumbo", JUMBO, JUMBO - o, o))
    if pod is not None:
        cases.append(MtuCase(profile, "yours", underlay, pod, o))
    return cases


@dataclass(frozen=True)
class MtuSettings:
    profiles: tuple[str, ...] = DEFAULT_PROFILES
    sizes: tuple[int, ...] = DEFAULT_SIZES
    duration: float = 2.0
    repeats: int = 3
    cases: tuple[str, ...] = DEFAULT_CASES
    underlay_mtu: int = UNDERLAY  # the nodes' MTU (a cluster's: `ip link` on a node)
    pod_mtu: int | None = None  # a pod MTU to measure as the case "yours"

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class Cell:
    """One test at one size in one case."""

    test: str
    result: BenchResult | None
    kernel: dict[str, int]  # counter deltas summed over the path, see `path_counters`
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def figure(self) -> float | None:
        if self.result is None:
            return None
        est = self.result.estimates.get("p50" if self.test == "rr" else "gbps")
        return est.median if est else None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "test": TEST_LABELS[self.test],
            "tool": r.tool if r else None,
            "estimates": {k: e.to_dict() for k, e in r.estimates.items()} if r else {},
            "kernel": self.kernel,
            "notes": self.notes,
            "error": self.error,
        }


@dataclass
class Row:
    case: MtuCase
    size: int
    cells: dict[str, Cell]
    versus_aligned: dict[str, float] = field(default_factory=dict)  # percent change
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "profile": c.profile,
            "case": c.kind,
            "underlay_mtu": c.underlay_mtu,
            "pod_mtu": c.pod_mtu,
            "path_mtu": c.path_mtu,
            "size": self.size,
            "tests": {TEST_LABELS[t]: cell.to_dict() for t, cell in self.cells.items()},
            "versus_aligned_percent": self.versus_aligned,
            "verdict": self.verdict,
        }


@dataclass
class MtuReport(ScenarioReport):
    settings: MtuSettings
    rows: list[Row] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # profile → reason
    seconds: float = 0.0
    file_stem = "mtu"

    def steal_percent(self) -> tuple[float, float] | None:
        """Median and highest CPU share the hypervisor stole during the runs."""
        values = sorted(
            run.cpu["steal_percent"]
            for row in self.rows
            for cell in row.cells.values()
            if cell.result
            for run in cell.result.runs
            if run.cpu
        )
        return (values[len(values) // 2], values[-1]) if values else None

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        steal = self.steal_percent()
        return {
            "schema_version": 1,
            "cpu_steal_percent": {"median": steal[0], "max": steal[1]} if steal else None,
            "settings": {
                "profiles": list(s.profiles),
                "sizes": list(s.sizes),
                "repeats": s.repeats,
                "duration_s": s.duration,
                "cases": list(s.cases),
                "underlay_mtu": s.underlay_mtu,
                "pod_mtu": s.pod_mtu,
            },
            "tools": {
                "TCP_STREAM": "iperf3 -l SIZE",
                "UDP_STREAM": "iperf3 -u -b 0 -l SIZE",
                "TCP_RR": "sockperf ping-pong -m SIZE",
                "kernel": "/proc/net/snmp in both pods and both nodes (nstat's source)",
            },
            "rows": [r.to_dict() for r in self.rows],
            "unavailable": self.unavailable,
            "seconds": round(self.seconds, 1),
        }


def validate(settings: MtuSettings) -> None:
    for name in settings.profiles:
        if name not in PROFILES:
            known = ", ".join(sorted(PROFILES))
            raise UsageError(f"unknown routing profile {name!r} (known: {known})")
    if not settings.sizes or any(not 1 <= n <= 65000 for n in settings.sizes):
        raise UsageError("sizes must be message sizes from 1 to 65000 bytes")
    unknown = [c for c in settings.cases if c not in CASE_KINDS]
    if unknown or not settings.cases:
        raise UsageError(f"cases must be {', '.join(CASE_KINDS)}, not {unknown or 'nothing'}")
    for name, mtu in (("underlay", settings.underlay_mtu), ("pod", settings.pod_mtu)):
        if mtu is not None and not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
            raise UsageError(f"{name} MTU must be {MTU_RANGE[0]}-{MTU_RANGE[1]}, not {mtu}")
    if ("yours" in settings.cases) != (settings.pod_mtu is not None):
        raise UsageError("the case 'yours' is the pod MTU --pod-mtu gives: name both or neither")
    for name in settings.profiles:
        if (
            name in PROFILES
            and settings.underlay_mtu - profile_class(name).encap_overhead < MTU_RANGE[0]
        ):
            raise UsageError(
                f"underlay MTU {settings.underlay_mtu} leaves too little for {name}'s pods"
            )
    runner.BenchSpec("stream", settings.duration, settings.repeats)


def selected_cases(profile: str, settings: MtuSettings) -> list[MtuCase]:
    cases = cases_for(profile, settings.underlay_mtu, settings.pod_mtu)
    return [c for c in cases if c.kind in settings.cases]


def steps(settings: MtuSettings) -> int:
    return sum(
        len(selected_cases(p, settings)) * len(settings.sizes) * len(TESTS) * settings.repeats
        for p in settings.profiles
        if resolve(p).available
    )


# Counters that tell fragmentation and PMTU apart, and where they are read.
POD_KEYS = {"Ip.FragCreates": "fragments_created", "Ip.ReasmOKs": "reassembled"}
NODE_KEYS = {
    "Ip.FragCreates": "fragments_created",
    "Ip.FragFails": "df_dropped",  # too big, DF set: dropped, ICMP sent back
    "Icmp.OutDestUnreachs": "icmp_frag_needed",  # nodes only forward: this is PMTU signalling
    "Icmp.OutRateLimitHost": "icmp_rate_limited",
}


def path_counters(lab: Lab) -> dict[str, dict[str, int]]:
    return {ns: counters.snmp(ns) for ns in lab.all_netns if ns != lab.fabric_netns}


def summarize(
    lab: Lab, before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, int]:
    nodes = {n.netns for n in lab.nodes}
    out = dict.fromkeys([*POD_KEYS.values(), *NODE_KEYS.values()], 0)
    for ns, now in after.items():
        keys = NODE_KEYS if ns in nodes else POD_KEYS
        for key, name in keys.items():
            out[name] += now.get(key, 0) - before[ns].get(key, 0)
    return out


def _flush_pmtu(lab: Lab) -> None:
    # Writing net.ipv4.route.flush (what `ip route flush cache` does) drops learned PMTUs.
    for pod in lab.pods:
        netns.write_sysctl(pod.netns, "net.ipv4.route.flush", "1")


def measure(live: LiveLab, test: str, size: int, settings: MtuSettings) -> Cell:
    """One run of `test` at `size` (repeats are interleaved across cases by `run_profile`)."""
    lab = live.lab
    src, dst = live.member("node1-pod1"), live.member("node2-pod1")
    spec = runner.BenchSpec(test, settings.duration, 1, msg_size=size, stream_len=size)
    _flush_pmtu(lab)
    before = path_counters(lab)
    notes: list[str] = []
    result, error = None, None
    for attempt in (1, 2):
        try:
            result = runner.run(live, src, dst, spec)
            break
        except KnlError as exc:
            if attempt == 2:
                error = str(exc)
            else:
                notes.append(f"first attempt failed ({exc}); retried once")
    return Cell(test, result, summarize(lab, before, path_counters(lab)), notes, error)


def merge_cells(cells: list[Cell]) -> Cell:
    """Runs of one (case, size, test) into one cell: results merged, counters summed."""
    results = [c.result for c in cells if c.result is not None]
    kernel = {k: sum(c.kernel[k] for c in cells) for k in cells[0].kernel}
    notes = list(dict.fromkeys(n for c in cells for n in c.notes))
    errors = [c.error for c in cells if c.error]
    error = errors[0] if errors and not results else None
    if errors and results:
        notes.append(f"{len(errors)} of {len(cells)} runs failed: {errors[0]}")
    merged = runner.merge(results) if results else None
    return Cell(cells[0].test, merged, kernel, notes, error)


def case_lab(case: MtuCase) -> Lab:
    return build_lab(
        {
            "name": run_lab_name("mtu", case.profile, case.kind),
            "profile": case.profile,
            "nodes": 2,
            "pods_per_node": 1,
            "underlay_mtu": case.underlay_mtu,
            "pod_mtu": case.pod_mtu,
            "allow_mtu_mismatch": case.pod_mtu > case.path_mtu,
        }
    )


def run_profile(
    cases: list[MtuCase], settings: MtuSettings, on_step: Callable[[str], None] | None
) -> list[Row]:
    """All of a profile's cases up at once; every run visits each case in turn (as
    `compare` interleaves profiles), so drift on a noisy host hits every case alike."""
    runs: dict[tuple[str, int, str], list[Cell]] = {}
    with ExitStack() as stack:
        labs = [(case, stack.enter_context(running(case_lab(case)))) for case in cases]
        for case, live in labs:
            if case.kind == "blackhole":
                for node in live.lab.nodes:
                    rules.nft_apply(node.netns, BLOCK_FRAG_NEEDED)
        for repeat in range(1, settings.repeats + 1):
            for size in settings.sizes:
                for test in TESTS:
                    for case, live in labs:
                        if on_step:
                            on_step(
                                f"{case.profile} {case.kind}: {TEST_LABELS[test]} {size} B, "
                                f"run {repeat}/{settings.repeats}"
                            )
                        cell = measure(live, test, size, settings)
                        runs.setdefault((case.kind, size, test), []).append(cell)
    return [
        Row(case, size, {t: merge_cells(runs[(case.kind, size, t)]) for t in TESTS})
        for case in cases
        for size in settings.sizes
    ]


def run(settings: MtuSettings, on_step: Callable[[str], None] | None = None) -> MtuReport:
    preflight.require_root("scenario mtu")
    started = time.monotonic()
    report = MtuReport(settings)
    for profile in settings.profiles:
        resolved = resolve(profile)
        if not resolved.available:
            report.unavailable[profile] = resolved.reason or ""
            continue
        report.rows += run_profile(selected_cases(profile, settings), settings, on_step)
    judge(report.rows)
    report.seconds = time.monotonic() - started
    return report


def _change(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round((value / base - 1) * 100, 1)


def judge(rows: list[Row]) -> None:
    """Fill in each row's change against the aligned case and its plain-language verdict."""
    aligned = {(r.case.profile, r.size): r for r in rows if r.case.kind == "aligned"}
    for row in rows:
        base = aligned.get((row.case.profile, row.size))
        if base is not None and base is not row:
            for test, cell in row.cells.items():
                change = _change(cell.figure(), base.cells[test].figure())
                if change is not None:
                    row.versus_aligned[TEST_LABELS[test]] = change
        row.verdict = verdict(row)


def verdict(row: Row) -> str:
    c, size = row.case, row.size
    udp, tcp = row.cells["udp_stream"], row.cells["stream"]
    packet = size + IP_UDP_HEADERS
    where = f"pod MTU {c.pod_mtu} over {c.profile} on a {c.underlay_mtu} underlay"
    parts: list[str] = []
    if c.kind == "blackhole":
        dropped = sum(cell.kernel["df_dropped"] for cell in row.cells.values())
        parts.append(
            f"{where}, ICMP frag-needed filtered: packets above {c.path_mtu} B vanish "
            f"({dropped} dropped by the nodes, no PMTU signal reaches the pod): a PMTU black hole"
        )
        failed = [TEST_LABELS[t] for t, cell in row.cells.items() if cell.error]
        if failed:
            parts.append(f"{', '.join(failed)} failed outright")
    elif c.kind == "misaligned" or (c.kind == "yours" and c.pod_mtu > c.path_mtu):
        icmp = sum(cell.kernel["icmp_frag_needed"] for cell in row.cells.values())
        parts.append(
            f"{where}: packets above {c.path_mtu} B do not fit the path; "
            f"nodes sent {icmp} ICMP frag-needed"
        )
        if packet > c.path_mtu:
            fits = "fit the pod MTU but not" if packet <= c.pod_mtu else "exceed the pod MTU and"
            parts.append(f"{size} B datagrams {fits} the path: they fragment once PMTU is learned")
        if any(cell.notes for cell in row.cells.values()):
            parts.append("a first send failed before the pod learned the path MTU")
    elif packet > c.pod_mtu:
        parts.append(
            f"{where}: {size} B datagrams exceed the pod MTU and fragment at the sender "
            f"({udp.kernel['fragments_created']} fragments)"
        )
    else:
        frag = "" if udp.kernel["fragments_created"] == 0 else " (yet fragments counted)"
        parts.append(f"{where}: {size} B datagrams fit, nothing fragments{frag}")
    for label, change in row.versus_aligned.items():
        parts.append(f"{label} {change:+.0f}% vs aligned")
    if tcp.error or udp.error:
        parts.append("a test failed: see its error")
    return "; ".join(parts)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default="native,vxlan,ipip,bgp", help="routing profiles")
    parser.add_argument("--sizes", default="64,1400,1472,8192,65000", help="message sizes, B")
    parser.add_argument(
        "--cases",
        default="aligned,misaligned,jumbo",
        help="MTU settings: aligned, misaligned, jumbo, blackhole (misaligned with ICMP filtered)",
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per cell")
    parser.add_argument("--underlay-mtu", type=int, default=UNDERLAY,
                        help="the nodes' MTU (yours: `ip link` on a node; AWS: 9001)")  # fmt: skip
    parser.add_argument("--pod-mtu", type=int,
                        help="your pods' MTU (`ip link` in a pod): measured as the case 'yours' "
                        "beside the others")  # fmt: skip


def settings_from(args: argparse.Namespace) -> MtuSettings:
    cases = csv_list(args.cases, "cases")
    if args.pod_mtu is not None and "yours" not in cases:
        cases = (*cases, "yours")
    return MtuSettings(
        csv_list(args.profiles, "profiles"),
        csv_ints(args.sizes, "sizes"),
        args.duration,
        args.repeats,
        cases,
        args.underlay_mtu,
        args.pod_mtu,
    )


SCENARIO = Scenario(
    "mtu",
    "MTU sweep per routing profile: throughput, latency, fragments, PMTU",
    arguments,
    settings_from,
    steps,
    run,
    "example:\n  kubenetlab scenario mtu --profiles vxlan --cases aligned,misaligned --sizes 1400",
)
