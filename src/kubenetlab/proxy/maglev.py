"""Maglev consistent hashing (Eisenbud et al., NSDI 2016), as Cilium builds it in user
space for `loadBalancer.algorithm=maglev` (cilium/cilium `pkg/maglev`).

Each backend gets a permutation of the table's M slots from two hashes of its name
("ip:port"): offset = h1 mod M, skip = h2 mod (M − 1) + 1. Backends take turns claiming
their next free slot until all M are filled, so each holds M/n ± 1 slots and removing
one backend moves only the slots it held. Cilium hashes with murmur3; kubenetlab uses
BLAKE2b-128 (h1, h2 = its two 64-bit halves, key "kubenetlab-maglev"). The BPF side
indexes the table with a jhash-style mix of the flow's 5-tuple (`flow_hash` in lb.bpf.c).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from kubenetlab.bpf.layout import MAGLEV_TABLE_SIZE as TABLE_SIZE

SEED = b"kubenetlab-maglev"


def _offset_skip(name: str, m: int) -> tuple[int, int]:
    digest = hashlib.blake2b(name.encode(), digest_size=16, key=SEED).digest()
    h1, h2 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
    return h1 % m, h2 % (m - 1) + 1


def table(backends: Sequence[str], m: int = TABLE_SIZE) -> list[int]:
    """Slot → index into `backends` (0-based); [] when there are none."""
    if not backends:
        return []
    perms = [_offset_skip(b, m) for b in backends]
    nexts = [0] * len(backends)
    entry = [-1] * m
    filled = 0
    while True:
        for i, (offset, skip) in enumerate(perms):
            c = (offset + nexts[i] * skip) % m
            while entry[c] >= 0:
                nexts[i] += 1
                c = (offset + nexts[i] * skip) % m
            entry[c] = i
            nexts[i] += 1
            filled += 1
            if filled == m:
                return entry
