"""The eBPF service proxy's state: the Services as the entries of lb.bpf.c's maps.

Cilium's layout (cilium/cilium `bpf/lib/lb.h`, `pkg/loadbalancer`): one hash map keyed by
(address, port, protocol, scope, slot); slot 0 of a service holds its backend count and
flags, slots 1..count its backends. A ClusterIP is one service in scope "all"; a NodePort
is one per node address, plus scope "local" (this node's backends) under
`externalTrafficPolicy: Local`, which north-south traffic uses while socket LB keeps
using every backend. Backends are written in the slots themselves (Cilium indirects
through a backend map by ID; with the ID folded in, an endpoint change rewrites one
service's slots and nothing else).

Everything here is pure: the desired maps as data, their text (`proxy render --proxy
ebpf`) and the difference between two states (the sync's batches).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from kubenetlab.bpf.layout import CONFIG, ENTRY, KEY, Delta
from kubenetlab.proxy import maglev
from kubenetlab.proxy.categorize import PortOnNode, categorize
from kubenetlab.services import Endpoint, Service

LB_MODES = ("snat", "dsr", "hybrid")  # Cilium's loadBalancer.mode; default snat
LB_ALGORITHMS = ("random", "maglev")  # loadBalancer.algorithm; default random
SCOPE_ALL, SCOPE_LOCAL = 0, 1
SVC_F_LOCAL, SVC_F_MAGLEV = 1, 2
BE_F_LOCAL = 1
PROTO = {"tcp": 6, "udp": 17}
PROTO_NAME = {v: k.upper() for k, v in PROTO.items()}



@dataclass(frozen=True, order=True)
class LbKey:
    address: str
    port: int
    proto: int
    scope: int
    slot: int

    def pack(self) -> bytes:
        addr = IPv4Address(self.address).packed
        return KEY.pack(addr, self.port.to_bytes(2, "big"), self.slot, self.proto, self.scope)

    def describe(self) -> str:
        scope = "local" if self.scope == SCOPE_LOCAL else "all"
        return f"{self.address}:{self.port}/{PROTO_NAME[self.proto]} scope={scope} slot={self.slot}"


@dataclass(frozen=True)
class LbValue:
    address: str = "0.0.0.0"
    port: int = 0
    count: int = 0
    flags: int = 0
    svc_id: int = 0

    def pack(self) -> bytes:
        addr = IPv4Address(self.address).packed
        port = self.port.to_bytes(2, "big")
        return ENTRY.pack(addr, port, self.count, self.flags, self.svc_id)


@dataclass(frozen=True)
class LbMaps:
    """One node's desired map contents."""

    mode: str
    algorithm: str
    node_ip: str
    entries: dict[LbKey, LbValue] = field(default_factory=dict)
    maglev: dict[int, tuple[int, ...]] = field(default_factory=dict)  # svc_id → slots
    names: dict[int, str] = field(default_factory=dict)  # svc_id → "ns/name:port"
    gaps: list[str] = field(default_factory=list)  # Service fields it does not program

    def config(self) -> bytes:
        return CONFIG.pack(LB_MODES.index(self.mode), IPv4Address(self.node_ip).packed)


def _svc_id(name: str, taken: dict[int, str]) -> int:
    """A stable 32-bit ID per service port (CRC-32 of its name; probed on a collision),
    so an unrelated change never renumbers a service."""
    ident = zlib.crc32(name.encode()) or 1
    while ident in taken and taken[ident] != name:
        ident = (ident + 1) & 0xFFFFFFFF or 1
    return ident


def _add_service(
    maps: LbMaps, key: tuple[str, int, int, int], eps: Sequence[Endpoint], target: int,
    node: str, flags: int, svc_id: int,
) -> None:  # fmt: skip
    address, port, proto, scope = key
    maps.entries[LbKey(address, port, proto, scope, 0)] = LbValue(
        count=len(eps), flags=flags, svc_id=svc_id
    )
    for slot, ep in enumerate(eps, start=1):
        be_flags = BE_F_LOCAL if ep.node == node else 0
        maps.entries[LbKey(address, port, proto, scope, slot)] = LbValue(ep.ip, target, 0, be_flags)


def _add_port(maps: LbMaps, p: PortOnNode, node: str, node_ips: Sequence[str]) -> None:
    proto, target = PROTO[p.protocol], p.port.target_port
    svc_id = _svc_id(p.name, maps.names)
    maps.names[svc_id] = p.name
    internal = p.local_endpoints if p.internal_local else p.cluster_endpoints
    _add_service(
        maps, (p.service.cluster_ip, p.port.port, proto, SCOPE_ALL), internal,
        target, node, 0, svc_id,
    )  # fmt: skip
    # North-south frontends: the node's addresses at the NodePort, external and LB IPs
    # at the Service port (Cilium's "surrogate" NodePort and LoadBalancer entries).
    frontends = [(ip, p.port.node_port) for ip in node_ips if p.port.node_port is not None]
    frontends += [(ip, p.port.port) for ip in p.service.external_addresses]
    if not frontends:
        return
    local = p.service.local
    flags = (SVC_F_LOCAL if local else 0) | (SVC_F_MAGLEV if maps.algorithm == "maglev" else 0)
    north_south = p.local_endpoints if local else p.cluster_endpoints
    for ip, port in frontends:
        _add_service(
            maps, (ip, port, proto, SCOPE_ALL), p.cluster_endpoints, target, node, flags, svc_id
        )
        if local:
            _add_service(
                maps, (ip, port, proto, SCOPE_LOCAL), p.local_endpoints, target, node, flags,
                svc_id,
            )  # fmt: skip
    if maps.algorithm == "maglev" and north_south:
        names = [f"{e.ip}:{target}" for e in north_south]
        maps.maglev[svc_id] = tuple(i + 1 for i in maglev.table(names))


def lb_maps(
    services: Sequence[Service], node: str, node_ips: Sequence[str], mode: str, algorithm: str
) -> LbMaps:
    maps = LbMaps(mode, algorithm, node_ips[0] if node_ips else "0.0.0.0")
    for p in categorize(services, node):
        _add_port(maps, p, node, node_ips)
    for svc in services:
        if svc.source_ranges:
            maps.gaps.append(f"{svc.key} loadBalancerSourceRanges")
        if svc.affinity_timeout is not None:
            maps.gaps.append(f"{svc.key} sessionAffinity ClientIP")
    return maps


def render(maps: LbMaps, node: str) -> str:
    """The map contents as text, one entry per line, in service order."""
    lines = [
        f"# eBPF service maps of node {node}: lb-mode {maps.mode}, algorithm {maps.algorithm}",
        f"lb4_config mode={maps.mode} node_ip={maps.node_ip}",
    ]
    for key, value in maps.entries.items():
        if key.slot == 0:
            flags = [n for bit, n in ((SVC_F_LOCAL, "local"), (SVC_F_MAGLEV, "maglev"))
                     if value.flags & bit]  # fmt: skip
            lines.append(
                f"lb4_services {key.describe()} count={value.count} "
                f"flags={','.join(flags) or '-'} id={value.svc_id:#010x} "
                f"# {maps.names.get(value.svc_id, '?')}"
            )
        else:
            where = " local" if value.flags & BE_F_LOCAL else ""
            lines.append(
                f"lb4_services {key.describe()} backend={value.address}:{value.port}{where}"
            )
    lines += [f"# not modeled by this eBPF proxy (Cilium has it): {gap}" for gap in maps.gaps]
    for svc_id, slots in maps.maglev.items():
        share = {s: slots.count(s) for s in sorted(set(slots))}
        lines.append(
            f"lb4_maglev id={svc_id:#010x} size={len(slots)} slots per backend "
            f"{' '.join(f'{s}:{n}' for s, n in share.items())} # {maps.names[svc_id]}"
        )
    return "\n".join(lines) + "\n"


def delta(current: LbMaps | None, desired: LbMaps) -> Delta:
    have = current.entries if current else {}
    changed = [(k, v) for k, v in desired.entries.items() if have.get(k) != v]
    old_tables = current.maglev if current else {}
    return Delta(
        slots=[(k.pack(), v.pack()) for k, v in changed if k.slot],
        services=[(k.pack(), v.pack()) for k, v in changed if not k.slot],
        removed=[k.pack() for k in have if k not in desired.entries],
        maglev=[(i, t) for i, t in desired.maglev.items() if old_tables.get(i) != t],
        maglev_removed=[i for i in old_tables if i not in desired.maglev],
    )
