"""Kernel objects as plain data: what the lab needs, before anything is created.

Renderers (topology, routing profiles) return lists of these; `kernel.apply` is the
only code that turns them into netlink requests. `describe()` gives an `ip`-like
line per object, which is what the golden tests compare and `lab up --dry-run` prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Netns:
    name: str

    def describe(self) -> str:
        return f"ip netns add {self.name}"


@dataclass(frozen=True)
class Sysctl:
    netns: str
    key: str  # dotted, as sysctl(8) spells it
    value: str

    def describe(self) -> str:
        value = f'"{self.value}"' if " " in self.value else self.value
        return f"[{self.netns}] sysctl -w {self.key}={value}"


@dataclass(frozen=True)
class Bridge:
    netns: str
    ifname: str
    mtu: int

    def describe(self) -> str:
        return f"[{self.netns}] ip link add {self.ifname} mtu {self.mtu} type bridge"


@dataclass(frozen=True)
class Veth:
    """A veth pair made in one request, each end directly in its own namespace."""

    netns: str
    ifname: str
    peer_netns: str
    peer_ifname: str
    mtu: int
    mac: str | None = None  # None: the kernel picks
    peer_mac: str | None = None

    def describe(self) -> str:
        mac = f" address {self.mac}" if self.mac else ""
        peer_mac = f" address {self.peer_mac}" if self.peer_mac else ""
        return (
            f"[{self.netns}] ip link add {self.ifname}{mac} mtu {self.mtu} type veth "
            f"peer name {self.peer_ifname}{peer_mac} netns {self.peer_netns}"
        )


@dataclass(frozen=True)
class Enslave:
    netns: str
    ifname: str
    master: str

    def describe(self) -> str:
        return f"[{self.netns}] ip link set {self.ifname} master {self.master}"


@dataclass(frozen=True)
class Vxlan:
    netns: str
    ifname: str
    vni: int
    local: str
    port: int
    dev: str
    mtu: int
    mac: str

    def describe(self) -> str:
        return (
            f"[{self.netns}] ip link add {self.ifname} address {self.mac} mtu {self.mtu} "
            f"type vxlan id {self.vni} local {self.local} dev {self.dev} dstport {self.port} "
            "nolearning"
        )


@dataclass(frozen=True)
class Ipip:
    """A point-to-multipoint IPv4-in-IPv4 tunnel (remote any), as Calico's tunl0."""

    netns: str
    ifname: str
    local: str
    dev: str
    mtu: int

    def describe(self) -> str:
        return (
            f"[{self.netns}] ip link add {self.ifname} mtu {self.mtu} type ipip "
            f"local {self.local} dev {self.dev} ttl 64"
        )


@dataclass(frozen=True)
class LinkUp:
    netns: str
    ifname: str

    def describe(self) -> str:
        return f"[{self.netns}] ip link set {self.ifname} up"


@dataclass(frozen=True)
class Address:
    netns: str
    ifname: str
    cidr: str  # address/prefixlen

    def describe(self) -> str:
        return f"[{self.netns}] ip addr add {self.cidr} dev {self.ifname}"


@dataclass(frozen=True)
class Route:
    netns: str
    dst: str  # prefix, or "default"
    dev: str
    via: str | None = None
    onlink: bool = False

    def describe(self) -> str:
        via = f" via {self.via}" if self.via else ""
        onlink = " onlink" if self.onlink else ""
        scope = " scope link" if self.via is None else ""
        return f"[{self.netns}] ip route add {self.dst}{via} dev {self.dev}{scope}{onlink}"


@dataclass(frozen=True)
class Neighbour:
    netns: str
    ifname: str
    ip: str
    mac: str

    def describe(self) -> str:
        return (
            f"[{self.netns}] ip neigh add {self.ip} lladdr {self.mac} dev {self.ifname} "
            "nud permanent"
        )


@dataclass(frozen=True)
class Fdb:
    netns: str
    ifname: str
    mac: str
    dst: str

    def describe(self) -> str:
        return f"[{self.netns}] bridge fdb append {self.mac} dev {self.ifname} dst {self.dst} self"


KernelObject = (
    Netns
    | Sysctl
    | Bridge
    | Veth
    | Enslave
    | Vxlan
    | Ipip
    | LinkUp
    | Address
    | Route
    | Neighbour
    | Fdb
)


def describe(objects: list[KernelObject]) -> str:
    return "".join(obj.describe() + "\n" for obj in objects)


def as_dicts(objects: list[KernelObject]) -> list[dict[str, object]]:
    """The plan as data (`lab up --dry-run -o json`): kind, fields, and the `ip` command."""
    return [
        {"kind": type(obj).__name__, **dataclasses.asdict(obj), "command": obj.describe()}
        for obj in objects
    ]
