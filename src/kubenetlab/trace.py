"""`kubenetlab trace`: where the microseconds go, hop by hop, timed in the kernel.

bpf/trace.bpf.c sits at tcx ingress and egress of every interface of the namespaces a
path crosses (source pod, its node, the fabric, the destination node and pod; for a
Service, every node and every endpoint pod). A probe client in the source pod sends
request/response probes carrying a sequence number in their payload — UDP datagrams
(`udp`), messages over one TCP connection (`rr`), or one TCP connection per message
(`crr`), the last two through a ClusterIP too — and times each round trip itself. Each
crossing records `bpf_ktime_get_ns()` (one clock for the whole kernel), the length on
the wire and the probe's own addresses and ports, so a DNAT shows where it happens. Per
probe the crossings are ordered in time; per hop the delta from the previous crossing
is summarised (p50/p90/p99) over all probes. The programs are attached for the run only
(recorded in the ledger) and detached after.

Not traced: a stream (GSO and GRO merge and split segments, so no packet keeps a key),
and traffic the tracer did not send (the key is in the probe's payload).
"""

from __future__ import annotations

import json
import os
import re
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
VALUE = struct.Struct("=QIIIHHB7x")  # struct hop_value
TESTS = ("udp", "rr", "crr")

SERVER = f"""
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", {PROBE_PORT}))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", {PROBE_PORT})); t.listen(128)
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := c.recv(65536):
        c.sendall(data)
    c.close()
def tcp():
    while True:
        threading.Thread(target=echo, args=(t.accept()[0],), daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
while True:
    data, peer = u.recvfrom(2048); u.sendto(data, peer)
"""
# argv: test host port probes size seconds (0: no time limit). Prints how many it sent and
# the round trips in µs.
CLIENT = f"""
import json, socket, struct, sys, time
test, host, port, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
until = time.monotonic() + float(sys.argv[6]) if float(sys.argv[6]) else float("inf")
def message(seq):
    return struct.pack("!II", {MAGIC}, seq).ljust(size, b"p")
rtts, conn = [], None
def tcp_round(seq):
    global conn
    if conn is None:
        conn = socket.create_connection((host, port), timeout=1.0)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter(); conn.sendall(message(seq)); got = 0
    while got < size:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        got += len(chunk)
    rtts.append((time.perf_counter() - start) * 1e6)
    if test == "crr":
        conn.close(); conn = None
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1.0)
sent = 0
for seq in range(n):
    if time.monotonic() > until:
        break
    sent += 1
    try:
        if test == "udp":
            start = time.perf_counter(); u.sendto(message(seq), (host, port)); u.recvfrom(2048)
            rtts.append((time.perf_counter() - start) * 1e6)
        else:
            tcp_round(seq)
    except OSError:
        conn = None
    time.sleep(0.0005)
print(json.dumps({{"sent": sent, "rtts": rtts}}))
"""
DESCRIBE = (  # (interface name pattern, direction, what happens on the way to that crossing)
    (r"knl-eth0$", "out", "the probe leaves its pod (socket → veth)"),
    (r"knl-p\d+$", "in", "the pod's veth pair into the node"),
    (r"knl-(vxlan|ipip)$", "out", "the node routes it (and runs the proxy's rules) to the tunnel"),
    (r"knl-up$", "out", "the node routes it (and runs the proxy's rules) onto its uplink"),
    (r"knl-n\d+$", "in", "the uplink veth into the fabric's bridge"),
    (r"knl-n\d+$", "out", "bridged across the fabric to the other node's port"),
    (r"knl-up$", "in", "the fabric veth into the node"),
    (r"knl-(vxlan|ipip)$", "in", "decapsulated by the tunnel device"),
    (r"knl-p\d+$", "out", "the node routes it (and runs the proxy's rules) to the pod's veth"),
    (r"knl-eth0$", "in", "the pod's veth pair: delivered into the pod"),
)


def describe(label: str, previous: str = "") -> str:
    """What happens between the previous crossing and this one ("node1:knl-up out")."""
    name, _, direction = label.rpartition(" ")
    if (
        direction == "out"
        and name.endswith("knl-up")
        and re.search(r"knl-(vxlan|ipip) out$", previous)
    ):
        return "encapsulated by the tunnel device (its header added), onto the node's uplink"
    for pattern, where, text in DESCRIBE:
        if where == direction and re.search(pattern, name):
            return text
    return ""


@dataclass
class Hop:
    label: str  # "node1:knl-up out"
    previous: str = ""  # the crossing before it on the path
    deltas_us: list[float] = field(default_factory=list)  # from the previous crossing
    wire_bytes: list[int] = field(default_factory=list)
    flow: str | None = None  # the probe's 5-tuple here (the first probe on this path)

    def to_dict(self) -> dict[str, Any]:
        q = latency_summary_us(histogram_of(round(d * 1000) for d in self.deltas_us))
        return {"hop": self.label, "what": describe(self.label, self.previous),
                **{f"{k}_us": round(q.get(k, 0.0), 2) for k in ("p50", "p90", "p99")},
                "wire_bytes": statistics.median_low(self.wire_bytes) if self.wire_bytes else None,
                "flow": self.flow,
                "samples": len(self.deltas_us)}  # fmt: skip


@dataclass
class Trace:
    src: str
    dst: str
    sent: int
    answered: int
    directions: dict[str, list[Hop]]  # "request" / "reply" → hops in path order
    test: str = "udp"
    rtts_us: list[float] = field(default_factory=list)  # the probe client's own round trips

    def summary(self, hops: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """Per direction the sum of the hop p50s, and the client's round trip p50/p99
        (`hops`: the directions' hop documents when already made)."""
        hops = hops or self.hop_documents()
        rtt = latency_summary_us(histogram_of(round(r * 1000) for r in self.rtts_us))
        return {
            "path_p50_us": {d: round(sum(h["p50_us"] for h in docs[1:]), 2)
                            for d, docs in hops.items()},
            "rtt_us": {k: round(rtt.get(k, 0.0), 2) for k in ("p50", "p99")},
            "rtt_tool": "the probe client's own clock (time.perf_counter around each round trip)",
        }  # fmt: skip

    def hop_documents(self) -> dict[str, list[dict[str, Any]]]:
        return {d: [h.to_dict() for h in hops] for d, hops in self.directions.items()}

    def to_dict(self) -> dict[str, Any]:
        hops = self.hop_documents()
        return {
            "schema_version": 1, "kind": "trace", "from": self.src, "to": self.dst,
            "test": self.test, "probes": self.sent, "answered": self.answered,
            "clock": "bpf_ktime_get_ns at tcx ingress/egress", **self.summary(hops),
            "directions": hops,
            "environment": environment(),
        }  # fmt: skip


def path_namespaces(live: LiveLab, src: Member, dst: Member) -> dict[str, str]:
    """Member label → namespace, for every namespace the path can cross (for a Service:
    every node and every endpoint pod, since any of them may carry it)."""
    out = {src.name: src.netns, "fabric": live.lab.fabric_netns}
    ends = [src]
    if dst.kind == "service":
        ends += [live.member(e.pod) for e in live.service(dst.name).endpoints if e.pod]
        out.update({n.name: n.netns for n in live.lab.nodes})
    else:
        ends.append(dst)
    for member in ends:
        out[member.name] = member.netns
        if member.kind == "pod" and member.node:
            out[member.node] = live.member(member.node).netns
    return out


def _interfaces(ns: str) -> list[tuple[int, str]]:
    with netns.inside(ns):
        return [(i, n) for i, n in socket.if_nameindex() if n != "lo"]


def _netns_inode(ns: str) -> int:
    """The namespace's inode number: what the program reads from the device."""
    return os.stat(netns.netns_path(ns)).st_ino


PROTOS = {6: "tcp", 17: "udp"}


def _ip(raw: int) -> str:
    return socket.inet_ntoa(struct.pack("=I", raw))  # stored in network order


class Attached:
    """The tracer loaded under the lab's bpf file system and attached everywhere; detach()
    undoes it (also on error or signal, through the caller's finally)."""

    def __init__(self, live: LiveLab, spaces: dict[str, str], tcp: bool = False) -> None:
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
            if tcp:  # look into TCP payloads too: costs every TCP packet on the path a parse
                with bpf.Map(self.pins / "maps" / "trace_config", 4, 4) as config:
                    config.update([(struct.pack("=I", 0), struct.pack("=I", 1))])
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
        self.live.ledger.record_bpf_links([link])
        with netns.inside(ns):
            bpf.prog_attach(ifindex, self.fds[direction], f"tcx_{direction}")
        self.links.append((ns, ifindex, direction, link))

    def records(self) -> list[tuple[tuple[int, int, int, int, int], tuple[int, int, str, int]]]:
        """(seq, ifindex, netns inode, egress, reply) → (time ns, wire bytes, 5-tuple,
        source port)."""
        with bpf.Map(self.pins / "maps" / "hops", KEY.size, VALUE.size) as hops:
            out = []
            for key in hops.all_keys():
                raw = hops.lookup(key)
                if raw is not None:
                    ns, length, saddr, daddr, sport, dport, proto = VALUE.unpack(raw)
                    flow = (f"{PROTOS.get(proto, proto)} {_ip(saddr)}:{sport} → "
                            f"{_ip(daddr)}:{dport}")  # fmt: skip
                    out.append((KEY.unpack(key), (ns, length, flow, sport)))
            return out

    def detach(self) -> None:
        for ns, ifindex, direction, _ in self.links:
            try:
                with netns.inside(ns):
                    bpf.prog_detach(ifindex, self.fds[direction], f"tcx_{direction}")
            except OSError:
                pass  # the interface went away with its namespace
        self.live.ledger.forget_bpf_links([link for *_, link in self.links])
        for fd in self.fds.values():
            os.close(fd)
        for path in sorted(self.pins.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        self.pins.rmdir()


def _probe(
    live: LiveLab, src: Member, dst: Member, test: str, packets: int, size: int, seconds: float
) -> tuple[int, list[float]]:
    """Run the probe client: how many probes it sent, and the round trips it measured
    (µs), one per answered probe.
    A pod or node destination gets the tracer's own echo server; a Service's endpoints
    already echo (the lab's backends)."""
    server = None
    if dst.kind != "service":
        server = procs.spawn(
            live.ledger, dst.netns, [sys.executable, "-c", SERVER], role="trace-server"
        )
    port = dst.port if dst.kind == "service" else PROBE_PORT
    try:
        time.sleep(0.3)
        argv = [sys.executable, "-c", CLIENT, test, dst.ip, str(port), str(packets), str(size),
                str(seconds)]  # fmt: skip
        wait = (seconds or packets * 2) + 30
        out = procs.run_in(src.netns, argv, capture_output=True, text=True, timeout=wait)
        if out.returncode != 0:
            raise KnlError(f"trace probe client failed: {out.stderr.strip().splitlines()[-1:]}")
        doc = json.loads(out.stdout)
        return int(doc["sent"]), [float(r) for r in doc["rtts"]]
    finally:
        if server is not None:
            procs.end(server.pid, procs.start_time(server.pid))
            live.ledger.forget_processes(lambda p: p.pid == server.pid)


def _paths(
    records: list[tuple[tuple[int, int, int, int, int], tuple[int, int, str, int]]],
    names: dict[tuple[int, int], str],
    server_ports: set[int],
) -> dict[str, list[Hop]]:
    """Per direction (a reply comes from one of the server's ports, before or after NAT):
    the most common ordered path, and each hop's delta over probes."""
    by_probe: dict[tuple[int, int], list[tuple[int, str, int, str]]] = {}
    for (seq, ifindex, inode, egress, _), (ns_time, length, flow, sport) in records:
        label = f"{names.get((inode, ifindex), f'?:{ifindex}')} {'out' if egress else 'in'}"
        reply = int(sport in server_ports)
        by_probe.setdefault((reply, seq), []).append((ns_time, label, length, flow))
    out: dict[str, list[Hop]] = {}
    for reply, direction in ((0, "request"), (1, "reply")):
        probes = [sorted(v) for (r, _), v in by_probe.items() if r == reply]
        if not probes:
            continue
        common = Counter(tuple(h[1] for h in p) for p in probes).most_common(1)[0][0]
        hops = [Hop(label, common[i - 1] if i else "") for i, label in enumerate(common)]
        for p in probes:
            if tuple(h[1] for h in p) != common:
                continue  # a probe that took another way (or lost a crossing) is left out
            for i, (t, _, length, flow) in enumerate(p):
                hops[i].wire_bytes.append(length)
                hops[i].flow = hops[i].flow or flow
                if i:
                    hops[i].deltas_us.append((t - p[i - 1][0]) / 1000)
        out[direction] = hops
    return out


def trace(
    live: LiveLab, src: Member, dst: Member, packets: int = 2000, size: int = 64,
    test: str = "udp", seconds: float = 0.0,
) -> Trace:  # fmt: skip
    """Probe src → dst `packets` times (or for `seconds`, at most `packets` probes)."""
    if src.kind != "pod" or dst.kind not in ("pod", "node", "service"):
        raise UsageError("trace runs from a pod to a pod, a node or a Service (ns/name)")
    if test not in TESTS:
        raise UsageError(f"--test must be one of {', '.join(TESTS)}, not {test!r}")
    if dst.kind == "service" and test == "udp":
        raise UsageError("a Service is traced over TCP: --test rr or --test crr")
    if not 1 <= packets <= 1000000 or not 8 <= size <= 1400:
        raise UsageError("--packets must be 1-1000000 and --size 8-1400")
    if not 0 <= seconds <= 3600:
        raise UsageError(f"--duration must be 0-3600 seconds, not {seconds:g}")
    spaces = path_namespaces(live, src, dst)
    names = {}
    for label, ns in spaces.items():
        inode = _netns_inode(ns)
        names.update({(inode, i): f"{label}:{n}" for i, n in _interfaces(ns)})
    attached = Attached(live, spaces, tcp=test != "udp")
    try:
        sent, rtts = _probe(live, src, dst, test, packets, size, seconds)
        records = attached.records()
    finally:
        with interrupt.shielded():  # a ^C now still detaches everything first
            attached.detach()
    ports = {PROBE_PORT}
    if dst.kind == "service":
        ports |= {p for sp in live.service(dst.name).ports for p in (sp.port, sp.target_port)}
    paths = _paths(records, names, ports)
    return Trace(src.name, dst.name, sent, len(rtts), paths, test, rtts)
