"""`kubenetlab trace`: where the microseconds go, hop by hop, timed in the kernel.

bpf/trace.bpf.c sits at tcx ingress and egress of every interface of the namespaces a
path crosses (source pod, its node, the fabric, the destination node and pod). A probe
client in the source pod sends UDP request/response probes carrying a sequence number
in their payload; each crossing records `bpf_ktime_get_ns()` (one clock for the whole
kernel) and the length on the wire. Per probe the crossings are ordered in time; per hop
the delta from the previous crossing is summarised (p50/p90/p99) over all probes.
The programs are attached for the run only (recorded in the ledger) and detached after.
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubenetlab import bpf as bpf_build
from kubenetlab import interrupt
from kubenetlab.bench.stats import histogram_of, latency_summary_us
from kubenetlab.environment import environment
from kubenetlab.errors import KnlError, UsageError
from kubenetlab.kernel import bpf, netns, procs
from kubenetlab.kernel.ledger import bpf_dir
from kubenetlab.live import LiveLab, Member

PROBE_PORT = 7999
MAGIC = 0x4B4E4C54
KEY = struct.Struct("=IIQBB6x")  # struct hop_key
VALUE = struct.Struct("=QII")  # struct hop_value

SERVER = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", {PROBE_PORT}))
while True:
    data, peer = s.recvfrom(2048); s.sendto(data, peer)
"""
CLIENT = f"""
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
size, got = int(sys.argv[3]), 0
for seq in range(int(sys.argv[2])):
    s.sendto(struct.pack("!II", {MAGIC}, seq).ljust(size, b"p"), (sys.argv[1], {PROBE_PORT}))
    try:
        s.recvfrom(2048); got += 1
    except TimeoutError:
        pass
    time.sleep(0.0005)
print(got)
"""


@dataclass
class Hop:
    label: str  # "node1:knl-up out"
    deltas_us: list[float] = field(default_factory=list)  # from the previous crossing
    wire_bytes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        q = latency_summary_us(histogram_of(round(d * 1000) for d in self.deltas_us))
        return {"hop": self.label, **{f"{k}_us": round(q.get(k, 0.0), 2) for k in ("p50", "p90", "p99")},
                "wire_bytes": statistics.median_low(self.wire_bytes) if self.wire_bytes else None,
                "samples": len(self.deltas_us)}  # fmt: skip


@dataclass
class Trace:
    src: str
    dst: str
    sent: int
    answered: int
    directions: dict[str, list[Hop]]  # "request" / "reply" → hops in path order

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1, "kind": "trace", "from": self.src, "to": self.dst, "probes": self.sent,
            "answered": self.answered, "clock": "bpf_ktime_get_ns at tcx ingress/egress",
            "directions": {d: [h.to_dict() for h in hops] for d, hops in self.directions.items()},
            "environment": environment(),
        }  # fmt: skip


def _namespaces(live: LiveLab, src: Member, dst: Member) -> dict[str, str]:
    """Member label → namespace, for every namespace the path can cross."""
    out = {src.name: src.netns, dst.name: dst.netns, "fabric": live.lab.fabric_netns}
    for member in (src, dst):
        if member.kind == "pod" and member.node:
            out[member.node] = live.member(member.node).netns
    return out


def _interfaces(ns: str) -> list[tuple[int, str]]:
    with netns.inside(ns):
        return [(i, n) for i, n in socket.if_nameindex() if n != "lo"]


def _netns_inode(ns: str) -> int:
    """The namespace's inode number: what the program reads from the device."""
    return os.stat(netns.netns_path(ns)).st_ino


class Attached:
    """The tracer loaded under the lab's bpf file system and attached everywhere; detach()
    undoes it (also on error or signal, through the caller's finally)."""

    def __init__(self, live: LiveLab, spaces: dict[str, str]) -> None:
        self.live = live
        self.links: list[tuple[str, int, str, dict[str, str]]] = []
        mount = bpf_dir(live.name)
        if not os.path.ismount(mount):
            live.ledger.record_mount(str(mount))
            bpf.mount_bpffs(mount)
        self.pins = mount / "trace"
        if self.pins.exists():
            raise UsageError(f"a trace is already running on lab {live.name!r}")
        self.pins.mkdir()
        self.fds: dict[str, int] = {}
        try:
            bpf.load_all(bpf_build.object_file("trace"), self.pins)
            for d in ("ingress", "egress"):
                self.fds[d] = bpf.obj_get(self.pins / "progs" / f"trace_{d}")
            for ns in spaces.values():
                for ifindex, ifname in _interfaces(ns):
                    for direction in ("ingress", "egress"):
                        self._attach(ns, ifindex, ifname, direction)
        except BaseException:
            self.detach()
            raise

    def _attach(self, ns: str, ifindex: int, ifname: str, direction: str) -> None:
        link = {"netns": ns, "target": ifname, "hook": f"tcx_{direction}", "program": "trace"}
        self.live.ledger.bpf_links.append(link)
        self.live.ledger.save()
        with netns.inside(ns):
            bpf.prog_attach(ifindex, self.fds[direction], f"tcx_{direction}")
        self.links.append((ns, ifindex, direction, link))

    def records(self) -> list[tuple[tuple[int, int, int, int, int], tuple[int, int]]]:
        with bpf.Map(self.pins / "maps" / "hops", KEY.size, VALUE.size) as hops:
            out = []
            for key in hops.all_keys():
                raw = hops.lookup(key)
                if raw is not None:
                    ns, length, _ = VALUE.unpack(raw)
                    out.append((KEY.unpack(key), (ns, length)))
            return out

    def detach(self) -> None:
        for ns, ifindex, direction, link in self.links:
            try:
                with netns.inside(ns):
                    bpf.prog_detach(ifindex, self.fds[direction], f"tcx_{direction}")
            except OSError:
                pass  # the interface went away with its namespace
            if link in self.live.ledger.bpf_links:
                self.live.ledger.bpf_links.remove(link)
        self.live.ledger.save()
        for fd in self.fds.values():
            os.close(fd)
        for path in sorted(self.pins.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        self.pins.rmdir()


def _probe(live: LiveLab, src: Member, dst: Member, packets: int, size: int) -> int:
    server = procs.spawn(
        live.ledger, dst.netns, [sys.executable, "-c", SERVER], role="trace-server"
    )
    try:
        time.sleep(0.3)
        out = procs.run_in(src.netns, [sys.executable, "-c", CLIENT, dst.ip, str(packets), str(size)],
                           capture_output=True, text=True, timeout=packets * 2 + 30)  # fmt: skip
        if out.returncode != 0:
            raise KnlError(f"trace probe client failed: {out.stderr.strip().splitlines()[-1:]}")
        return int(out.stdout.strip() or 0)
    finally:
        procs.end(server.pid, procs.start_time(server.pid))
        live.ledger.processes = [p for p in live.ledger.processes if p.pid != server.pid]
        live.ledger.save()


def _paths(
    records: list[tuple[tuple[int, int, int, int, int], tuple[int, int]]],
    names: dict[tuple[int, int], str],
) -> dict[str, list[Hop]]:
    """Per direction: the most common ordered path, and each hop's delta over probes."""
    by_probe: dict[tuple[int, int], list[tuple[int, str, int]]] = {}
    for (seq, ifindex, inode, egress, reply), (ns_time, length) in records:
        label = f"{names.get((inode, ifindex), f'?:{ifindex}')} {'out' if egress else 'in'}"
        by_probe.setdefault((reply, seq), []).append((ns_time, label, length))
    out: dict[str, list[Hop]] = {}
    for reply, direction in ((0, "request"), (1, "reply")):
        probes = [sorted(v) for (r, _), v in by_probe.items() if r == reply]
        if not probes:
            continue
        common = Counter(tuple(h[1] for h in p) for p in probes).most_common(1)[0][0]
        hops = [Hop(label) for label in common]
        for p in probes:
            if tuple(h[1] for h in p) != common:
                continue  # a probe that took another way (or lost a crossing) is left out
            for i, (t, _, length) in enumerate(p):
                hops[i].wire_bytes.append(length)
                if i:
                    hops[i].deltas_us.append((t - p[i - 1][0]) / 1000)
        out[direction] = hops
    return out


def trace(live: LiveLab, src: Member, dst: Member, packets: int = 2000, size: int = 64) -> Trace:
    if src.kind != "pod" or dst.kind not in ("pod", "node"):
        raise UsageError("trace runs from a pod to a pod or node")
    if not 1 <= packets <= 100000 or not 8 <= size <= 1400:
        raise UsageError("--packets must be 1-100000 and --size 8-1400")
    spaces = _namespaces(live, src, dst)
    names = {}
    for label, ns in spaces.items():
        inode = _netns_inode(ns)
        names.update({(inode, i): f"{label}:{n}" for i, n in _interfaces(ns)})
    attached = Attached(live, spaces)
    try:
        answered = _probe(live, src, dst, packets, size)
        records = attached.records()
    finally:
        with interrupt.shielded():  # a ^C now still detaches everything first
            attached.detach()
    return Trace(src.name, dst.name, packets, answered, _paths(records, names))
