"""The one result model every driver fills and every report reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from kubenetlab.bench.stats import Estimate

SCHEMA_VERSION = 1

# What each test measures, as netperf names it.
TEST_NAMES = {
    "rr": "TCP_RR",
    "crr": "TCP_CRR",
    "udp_rr": "UDP_RR",
    "stream": "TCP_STREAM",
    "udp_stream": "UDP_STREAM",
}
LATENCY_TESTS = ("rr", "crr", "udp_rr")
STREAM_TESTS = ("stream", "udp_stream")


@dataclass
class Run:
    index: int
    seconds: float
    transactions: int | None = None  # round trips incl. the tool's warm-up (for CPU/txn)
    latency_us: dict[str, float] = field(default_factory=dict)  # this run, warm-up excluded
    gbps: float | None = None
    retransmits: int | None = None
    lost_percent: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_us_per_txn: float | None = None
    cpu_s_per_gb: float | None = None
    tool_report: dict[str, Any] = field(default_factory=dict)  # the tool's own figures
    flags: list[str] = field(default_factory=list)  # why to read this run with care

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BenchResult:
    test: str
    tool: str  # e.g. "sockperf 3.7", "iperf3 3.12", "kubenetlab-pyrr (built-in Python driver)"
    fallback: bool  # True when the standard tool was missing and the built-in one stood in
    lab: str
    profile: str
    src: str
    dst: str
    dst_ip: str
    path: str  # e.g. "pod → pod, other node"
    msg_size: int
    duration_s: float
    runs: list[Run]
    pooled_latency_us: dict[str, float] = field(default_factory=dict)  # all runs' samples
    estimates: dict[str, Estimate] = field(default_factory=dict)  # metric → median/CI/CV
    notes: list[str] = field(default_factory=list)
    histogram: HdrHistogram | None = field(default=None, repr=False)  # pooled samples, ns
    placement: dict[str, Any] = field(default_factory=dict)  # bench.placement.Placement
    proxy: str | None = None  # the service proxy programming the lab's nodes (and version)

    @property
    def test_name(self) -> str:
        return TEST_NAMES[self.test]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "test": self.test,
            "test_name": self.test_name,
            "tool": self.tool,
            "fallback": self.fallback,
            "lab": self.lab,
            "profile": self.profile,
            "src": self.src,
            "dst": self.dst,
            "dst_ip": self.dst_ip,
            "path": self.path,
            "msg_size": self.msg_size,
            "duration_s": self.duration_s,
            "repeats": len(self.runs),
            "runs": [r.to_dict() for r in self.runs],
            "pooled_latency_us": self.pooled_latency_us,
            "estimates": {k: v.to_dict() for k, v in self.estimates.items()},
            "notes": self.notes,
            "placement": self.placement,
            "proxy": self.proxy,
        }
