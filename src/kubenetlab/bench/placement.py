"""Where the measuring processes run: a recorded choice, not the scheduler's mood.

Measured on this kind of 2-vCPU VM (sockperf TCP_RR pod → pod): client and server on one
CPU, p50 6.7–7.1 µs; on two CPUs or unpinned, 70–78 µs, because waking a halted vCPU (an
IPI through the hypervisor) costs ≈ 33 µs each way, and the scheduler decides run by run
whether a measurement pays it. So:

- `same`  both ends on one CPU: the data path's own cost, no cross-CPU wake-up. The
          default for request/response tests (rr, crr, udp_rr).
- `split` one CPU each, as client and server are on two machines in a real cluster: the
          default for streams (both ends busy at once; on one CPU they would share it).
- `none`  no pinning: what an unpinned benchmark on this host gets (noisy on VMs).

Every result records the policy and the CPUs, and the tables print them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubenetlab.errors import UsageError

POLICIES = ("auto", "same", "split", "none")
DEFAULT_FOR_TEST = {
    "rr": "same",
    "crr": "same",
    "udp_rr": "same",
    "stream": "split",
    "udp_stream": "split",
}


@dataclass(frozen=True)
class Placement:
    policy: str  # same | split | none
    client: frozenset[int] | None  # None: not pinned
    server: frozenset[int] | None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "client_cpus": sorted(self.client) if self.client is not None else None,
            "server_cpus": sorted(self.server) if self.server is not None else None,
            "note": self.note,
        }

    @property
    def cpus(self) -> frozenset[int] | None:
        """Every CPU the measurement runs on; None when either end may run anywhere."""
        if self.client is None or self.server is None:
            return None
        return self.client | self.server


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def place(policy: str, test: str) -> Placement:
    """The CPUs for a test under `policy` (auto: the test's default)."""
    if policy not in POLICIES:
        raise UsageError(f"CPU placement must be one of {', '.join(POLICIES)}, not {policy!r}")
    chosen = DEFAULT_FOR_TEST[test] if policy == "auto" else policy
    cpus = available_cpus()
    if chosen == "none":
        return Placement("none", None, None)
    if chosen == "same" or len(cpus) < 2:
        note = "" if chosen == "same" else "one CPU only: both ends share it"
        return Placement(chosen, frozenset(cpus[:1]), frozenset(cpus[:1]), note)
    return Placement("split", frozenset(cpus[:1]), frozenset(cpus[1:2]))
