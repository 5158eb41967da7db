"""sockperf ping-pong: TCP_RR and UDP_RR round-trip latency.

Run with `--full-rtt` (round trip, not sockperf's default half-RTT "latency") and
`--full-log FILE`, which holds every measured round trip after sockperf's own
warm-up; kubenetlab pools those samples into HDR histograms. sockperf's printed
percentiles are kept beside ours so the two can be compared (benchmarks/fidelity.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PERCENTILE = re.compile(r"---> percentile\s+([\d.]+)\s*=\s*([\d.]+)")
MAX_MIN = re.compile(r"---> <(MAX|MIN)> observation\s*=\s*([\d.]+)")
OBSERVATIONS = re.compile(r"Total (\d+) observations")
TOTAL_RUN = re.compile(
    r"\[Total Run\] RunTime=([\d.]+) sec; Warm up time=(\d+) msec; "
    r"SentMessages=(\d+); ReceivedMessages=(\d+)"
)
VALID = re.compile(r"\[Valid Duration\] RunTime=([\d.]+) sec")
COUNTS = re.compile(
    r"# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)"
)
VERSION = re.compile(r"version #?([\w.\-]+)")

MIN_MSG_SIZE = 14  # sockperf's header; netperf TCP_RR uses 1 byte


@dataclass
class SockperfSummary:
    version: str | None = None
    percentiles_us: dict[str, float] = field(default_factory=dict)  # "99.000" → µs, as printed
    max_us: float | None = None
    min_us: float | None = None
    observations: int = 0
    run_seconds: float = 0.0
    warmup_ms: int = 0
    valid_seconds: float = 0.0
    sent: int = 0
    received: int = 0
    dropped: int = 0
    duplicated: int = 0
    out_of_order: int = 0

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def parse_summary(text: str) -> SockperfSummary:
    """sockperf's printed report (stdout+stderr, ANSI colours and all)."""
    text = ANSI.sub("", text)
    out = SockperfSummary()
    if m := VERSION.search(text):
        out.version = m.group(1)
    # The report is printed twice when --full-log is on; the first copy is enough.
    for m in PERCENTILE.finditer(text):
        out.percentiles_us.setdefault(m.group(1), float(m.group(2)))
    for m in MAX_MIN.finditer(text):
        if m.group(1) == "MAX" and out.max_us is None:
            out.max_us = float(m.group(2))
        elif m.group(1) == "MIN" and out.min_us is None:
            out.min_us = float(m.group(2))
    if m := OBSERVATIONS.search(text):
        out.observations = int(m.group(1))
    if m := TOTAL_RUN.search(text):
        out.run_seconds, out.warmup_ms = float(m.group(1)), int(m.group(2))
        out.sent, out.received = int(m.group(3)), int(m.group(4))
    if m := VALID.search(text):
        out.valid_seconds = float(m.group(1))
    if m := COUNTS.search(text):
        out.dropped, out.duplicated, out.out_of_order = (int(g) for g in m.groups())
    if not out.observations and "ERROR" in text:
        line = next(line for line in text.splitlines() if "ERROR" in line)
        raise ValueError(f"sockperf failed: {line.strip()}")
    return out


def parse_full_log(text: str) -> list[int]:
    """Round trips in ns from `--full-log`: rows `packet, txTime(sec), rxTime(sec), rtt(usec)`."""
    samples: list[int] = []
    in_rows = False
    for line in text.splitlines():
        if line.startswith("packet,"):
            in_rows = True
            continue
        if not in_rows:
            continue
        if line.startswith("-"):
            break
        parts = line.split(",")
        if len(parts) == 4:
            samples.append(round(float(parts[3]) * 1000))
    return samples


def server_argv(port: int, udp: bool) -> list[str]:
    # SO_REUSEADDR: a server restarted after a failed run must bind while connections of
    # the old one linger (they cannot close on a path that loses packets).
    proto = [] if udp else ["--tcp"]
    return ["sockperf", "server", "-i", "0.0.0.0", "-p", str(port), *proto, "--uc-reuseaddr"]


def client_argv(
    host: str, port: int, udp: bool, seconds: float, msg_size: int, full_log: str
) -> list[str]:
    return [
        "sockperf",
        "ping-pong",
        "-i",
        host,
        "-p",
        str(port),
        *([] if udp else ["--tcp"]),
        "-t",
        str(max(1, round(seconds))),
        "-m",
        str(max(MIN_MSG_SIZE, msg_size)),
        "--full-rtt",
        "--full-log",
        full_log,
    ]
