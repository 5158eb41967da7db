"""The eBPF proxy's map layouts as lb.bpf.c declares them, and a change to its maps.

Neutral ground: proxy/ebpf.py decides what the maps hold, kernel/lbmaps.py writes them;
both import the layouts from here, so neither imports the other.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

KEY = struct.Struct("=4s2sHBBxx")  # struct lb4_key
ENTRY = struct.Struct("=4s2sHB3xI")  # struct lb4_entry
CONFIG = struct.Struct("=I4s")  # struct lb_config
MAGLEV_TABLE_SIZE = 16381  # MAGLEV_M; Cilium's default maglev.tableSize: a prime, > 100 × backends
MAGLEV_VALUE = struct.Struct(f"={MAGLEV_TABLE_SIZE}I")


@dataclass(frozen=True)
class Delta:
    """What a sync writes, in the order that never exposes a missing slot: new or
    changed backend slots, then service entries (counts), then removals."""

    slots: list[tuple[bytes, bytes]]
    services: list[tuple[bytes, bytes]]
    removed: list[bytes]
    maglev: list[tuple[int, tuple[int, ...]]]
    maglev_removed: list[int]

    @property
    def size(self) -> int:
        return (
            len(self.slots) + len(self.services) + len(self.removed)
            + len(self.maglev) + len(self.maglev_removed)
        )  # fmt: skip
