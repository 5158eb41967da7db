"""Host CPU spent on a run, from /proc/stat, net of what the host burns when idle.

Busy = user + nice + system + irq + softirq (guest time is already inside user).
The idle baseline is measured just before the run and subtracted pro rata; steal
is reported beside it because a VM whose CPU the hypervisor takes runs slower.
Like netperf's service demand, the figure includes the measuring tools themselves.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

TICK = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Ticks:
    busy: int
    steal: int
    total: int
    at: float

    @classmethod
    def now(cls) -> Ticks:
        with open("/proc/stat") as stat:
            f = [int(x) for x in stat.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
        return cls(
            busy=user + nice + system + irq + softirq,
            steal=steal,
            total=user + nice + system + idle + iowait + irq + softirq + steal,
            at=time.monotonic(),
        )


@dataclass(frozen=True)
class CpuUsage:
    busy_s: float  # host CPU seconds during the run
    idle_busy_s: float  # what the idle baseline would have burnt in the same time
    steal_percent: float
    seconds: float

    @property
    def net_s(self) -> float:
        return max(0.0, self.busy_s - self.idle_busy_s)

    def to_dict(self) -> dict[str, float]:
        return {
            "busy_s": round(self.busy_s, 4),
            "idle_busy_s": round(self.idle_busy_s, 4),
            "net_s": round(self.net_s, 4),
            "steal_percent": round(self.steal_percent, 1),
            "seconds": round(self.seconds, 3),
        }


class CpuMeter:
    def __init__(self, baseline_seconds: float = 0.3) -> None:
        self.baseline_seconds = baseline_seconds
        self._idle_rate = 0.0
        self._start: Ticks | None = None

    def baseline(self) -> None:
        """Measure the idle host (nothing of ours running) just before a run."""
        a = Ticks.now()
        time.sleep(self.baseline_seconds)
        b = Ticks.now()
        self._idle_rate = (b.busy - a.busy) * TICK / max(1e-9, b.at - a.at)

    def start(self) -> None:
        self._start = Ticks.now()

    def stop(self) -> CpuUsage:
        assert self._start is not None, "start() first"
        a, b = self._start, Ticks.now()
        elapsed = b.at - a.at
        total = max(1, b.total - a.total)
        return CpuUsage(
            busy_s=(b.busy - a.busy) * TICK,
            idle_busy_s=self._idle_rate * elapsed,
            steal_percent=100.0 * (b.steal - a.steal) / total,
            seconds=elapsed,
        )
