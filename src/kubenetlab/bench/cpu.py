"""CPU a measurement itself spent: its processes' time from the lab's cgroup, plus the
packet processing the kernel does outside them, on the CPUs they were pinned to.

    net_s = Δ cgroup usage (client + server, user + system) + Δ softirq outside them

Which softirq is "outside" depends on the kernel. With CONFIG_IRQ_TIME_ACCOUNTING, task
time excludes irq/softirq, so the pinned CPUs' softirq column of /proc/stat is added.
Without it (this host's kernel), softirq run on the way out of a syscall is already in
the task's time, and only what the ksoftirqd/N threads of those CPUs ran is missing: that
is added instead (their utime + stime), so nothing is counted twice.

Like netperf's service demand, it includes the measuring tools. When the host has no
CPU accounting (no cgroup to read), net_s is None with the reason, never 0. Host-wide
busy time and the CPU stolen by a hypervisor (/proc/stat) are reported beside it.
"""

from __future__ import annotations

import gzip
import os
import time
from dataclasses import dataclass
from functools import cache

from kubenetlab.kernel.cgroups import Cgroup

TICK = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Ticks:
    busy: int
    steal: int
    total: int
    softirq: dict[int, int]  # per CPU
    at: float

    @classmethod
    def now(cls) -> Ticks:
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
        f = [int(x) for x in lines[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
        per_cpu = {}
        for line in lines[1:]:
            if not line.startswith("cpu"):
                break
            fields = line.split()
            per_cpu[int(fields[0][3:])] = int(fields[7])
        return cls(
            busy=user + nice + system + irq + softirq,
            steal=steal,
            total=user + nice + system + idle + iowait + irq + softirq + steal,
            softirq=per_cpu,
            at=time.monotonic(),
        )


@dataclass(frozen=True)
class CpuUsage:
    process_s: float | None  # the measuring processes (cgroup)
    softirq_s: float  # softirq on their CPUs (all CPUs when unpinned)
    host_busy_s: float  # the whole host, for reference
    steal_percent: float
    seconds: float
    reason: str | None = None  # why process_s is None

    @property
    def net_s(self) -> float | None:
        return None if self.process_s is None else self.process_s + self.softirq_s

    def to_dict(self) -> dict[str, object]:
        net = self.net_s
        return {
            "net_s": round(net, 6) if net is not None else None,
            "process_s": round(self.process_s, 6) if self.process_s is not None else None,
            "softirq_s": round(self.softirq_s, 6),
            "busy_s": round(self.host_busy_s, 4),
            "steal_percent": round(self.steal_percent, 1),
            "seconds": round(self.seconds, 3),
            "source": "cgroup CPU usage of client and server + softirq outside them on their "
            "CPUs (" + ("/proc/stat softirq" if irq_time_accounting() else "ksoftirqd") + ")",
            "reason": self.reason,
        }


@cache
def irq_time_accounting() -> bool:
    try:
        with gzip.open("/proc/config.gz", "rt") as config:
            return any(line.strip() == "CONFIG_IRQ_TIME_ACCOUNTING=y" for line in config)
    except OSError:
        return False  # unknown: count ksoftirqd, the conservative choice (no double count)


@cache
def _ksoftirqd() -> dict[int, int]:
    """CPU → PID of its ksoftirqd thread."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    name = comm.read().strip()
            except OSError:
                continue
            if name.startswith("ksoftirqd/"):
                found[int(name.split("/", 1)[1])] = int(entry)
    return found


def ksoftirqd_ticks(cpus: set[int] | frozenset[int]) -> int:
    total = 0
    for cpu, pid in _ksoftirqd().items():
        if cpu in cpus:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except OSError:
                continue
    return total


class CpuMeter:
    def __init__(self, cgroup: Cgroup | None, cpus: frozenset[int] | None) -> None:
        self.cgroup = cgroup
        self.cpus = cpus  # None: unpinned, so softirq is counted on every CPU
        self._start: tuple[Ticks, float | None, int] | None = None

    def _usage(self) -> float | None:
        return self.cgroup.usage_s() if self.cgroup is not None else None

    def _outside_ticks(self, ticks: Ticks) -> int:
        cpus = self.cpus if self.cpus is not None else set(ticks.softirq)
        if irq_time_accounting():
            return sum(ticks.softirq.get(c, 0) for c in cpus)
        return ksoftirqd_ticks(cpus)

    def start(self) -> None:
        now = Ticks.now()
        self._start = (now, self._usage(), self._outside_ticks(now))

    def stop(self) -> CpuUsage:
        assert self._start is not None, "start() first"
        (a, used_a, outside_a), b, used_b = self._start, Ticks.now(), self._usage()
        softirq = (self._outside_ticks(b) - outside_a) * TICK
        process = used_b - used_a if used_a is not None and used_b is not None else None
        return CpuUsage(
            process_s=process,
            softirq_s=softirq,
            host_busy_s=(b.busy - a.busy) * TICK,
            steal_percent=100.0 * (b.steal - a.steal) / max(1, b.total - a.total),
            seconds=b.at - a.at,
            reason=None if process is not None else "no cgroup CPU accounting on this host",
        )
