"""The eBPF proxy's pinned maps, written from Python (proxy/ebpf.py decides what, in the
layouts of bpf/layout.py)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from kubenetlab.bpf.layout import CONFIG, ENTRY, KEY, MAGLEV_VALUE, Delta
from kubenetlab.kernel.bpf import Map

STATS = (
    "sock_xlate",
    "sock_no_backend",
    "nodeport_forward",
    "nodeport_no_backend",
    "dsr_option_added",
    "dsr_option_seen",
    "dsr_too_big",
    "reply_xlate",
)  # fmt: skip  (enum stat_index in lb.bpf.c)


def _maps(pin_dir: str | Path) -> Path:
    return Path(pin_dir) / "maps"


def write(pin_dir: str, config: bytes, change: Delta, full: bool) -> float:
    """Apply `change`; with `full`, first drop whatever else the maps hold. Seconds taken."""
    started = time.perf_counter()
    maps = _maps(pin_dir)
    with Map(maps / "lb4_services", KEY.size, ENTRY.size) as services:
        if full:
            wanted = {k for k, _ in change.slots} | {k for k, _ in change.services}
            stale = [k for k in services.all_keys() if k not in wanted]
            services.delete(stale)
        services.update(change.slots)
        services.update(change.services)
        services.delete(change.removed)
    with Map(maps / "lb4_maglev", 4, MAGLEV_VALUE.size) as tables:
        if full:
            keep = {struct.pack("=I", i) for i, _ in change.maglev}
            tables.delete([k for k in tables.all_keys() if k not in keep])
        tables.update([(struct.pack("=I", i), MAGLEV_VALUE.pack(*t)) for i, t in change.maglev])
        tables.delete([struct.pack("=I", i) for i in change.maglev_removed])
    with Map(maps / "lb4_config", 4, CONFIG.size) as cfg:
        cfg.update_one(struct.pack("=I", 0), config)
    return time.perf_counter() - started


def clear(pin_dir: str) -> None:
    maps = _maps(pin_dir)
    for name, key_size, value_size in (
        ("lb4_services", KEY.size, ENTRY.size),
        ("lb4_maglev", 4, MAGLEV_VALUE.size),
    ):
        with Map(maps / name, key_size, value_size) as m:
            m.delete(m.all_keys())


def _possible_cpus() -> int:
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    return sum(int(b) - int(a) + 1 if "-" in r else 1
               for r in text.split(",") for a, _, b in [r.partition("-")])  # fmt: skip


def stats(pin_dir: str) -> dict[str, int]:
    """The programs' counters, summed over CPUs."""
    ncpu = _possible_cpus()
    out = {}
    with Map(_maps(pin_dir) / "lb4_stats", 4, 8) as m:
        for index, name in enumerate(STATS):
            raw = m.lookup(struct.pack("=I", index), 8 * ncpu) or b""
            out[name] = sum(struct.unpack(f"={len(raw) // 8}Q", raw))
    return out
