"""Turn planned kernel objects into netlink requests (pyroute2), in plan order."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubenetlab.kernel import netns
from kubenetlab.kernel.parallel import apply_parallel
from kubenetlab.plan import (
    Address,
    Bridge,
    Enslave,
    Fdb,
    Ipip,
    KernelObject,
    LinkUp,
    Neighbour,
    Netns,
    Route,
    Sysctl,
    Veth,
    Vxlan,
)

if TYPE_CHECKING:  # pyroute2 costs a third of a second to import: only where netlink is used
    from pyroute2 import IPRoute

NUD_PERMANENT = 0x80
RT_SCOPE_LINK = 253


class ApplyError(Exception):
    def __init__(self, obj: KernelObject, cause: Exception) -> None:
        super().__init__(f"{obj.describe()}: {cause}")
        self.obj = obj
        self.cause = cause


# Links we create get their ifindex from us (RTM_NEWLINK honours ifi_index), so later
# requests need no lookup. Far above what the kernel hands out to veth peers (2, 3, …).
FIRST_ASSIGNED_IFINDEX = 10000
# Open rtnetlink sockets at once: each holds a few descriptors, and a 10,000-pod lab has
# 10,000 namespaces; the least recently used one is closed (the plan is namespace-local,
# so reopening is rare).
MAX_OPEN_SOCKETS = 256


class Netlink:
    """One rtnetlink socket per namespace, opened from inside it; interface index cache."""

    def __init__(self, assigned: dict[tuple[str, str], int] | None = None) -> None:
        self._sockets: OrderedDict[str, IPRoute] = OrderedDict()
        self._assigned = assigned or {}
        self._indexes: dict[tuple[str, str], int] = dict(self._assigned)
        self._next_index: dict[str, int] = {}

    def assign_index(self, ns: str, ifname: str) -> int:
        if (ns, ifname) in self._assigned:  # decided for the whole plan, before any fork
            return self._assigned[(ns, ifname)]
        index = self._next_index.get(ns, FIRST_ASSIGNED_IFINDEX)
        self._next_index[ns] = index + 1
        self._indexes[(ns, ifname)] = index
        return index

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ipr(self, ns: str) -> IPRoute:
        sock = self._sockets.get(ns)
        if sock is None:
            if len(self._sockets) >= MAX_OPEN_SOCKETS:
                self._sockets.popitem(last=False)[1].close()
            with netns.inside(ns):
                from pyroute2 import IPRoute

                sock = IPRoute(groups=0)  # the socket binds to the namespace it is made in
            self._sockets[ns] = sock
        else:
            self._sockets.move_to_end(ns)
        return sock

    def index(self, ns: str, ifname: str) -> int:
        if ifname == "lo":
            return 1
        key = (ns, ifname)
        if key not in self._indexes:
            found = self.ipr(ns).link_lookup(ifname=ifname)
            if not found:
                raise LookupError(f"no link {ifname} in {ns}")
            self._indexes[key] = found[0]
        return self._indexes[key]

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        self._indexes = dict(self._assigned)


def _netns(nl: Netlink, obj: Netns) -> None:
    netns.create(obj.name)


def _sysctl(nl: Netlink, obj: Sysctl) -> None:
    netns.write_sysctl(obj.netns, obj.key, obj.value)


def _bridge(nl: Netlink, obj: Bridge) -> None:
    nl.ipr(obj.netns).link(
        "add",
        index=nl.assign_index(obj.netns, obj.ifname),
        ifname=obj.ifname,
        kind="bridge",
        mtu=obj.mtu,
    )


def _veth(nl: Netlink, obj: Veth) -> None:
    peer_fd = os.open(netns.netns_path(obj.peer_netns), os.O_RDONLY)
    peer: dict[str, Any] = {"ifname": obj.peer_ifname, "net_ns_fd": peer_fd, "mtu": obj.mtu}
    mac: dict[str, Any] = {"address": obj.mac} if obj.mac else {}
    if obj.peer_mac:
        peer["address"] = obj.peer_mac
    try:
        nl.ipr(obj.netns).link(
            "add",
            index=nl.assign_index(obj.netns, obj.ifname),
            ifname=obj.ifname,
            kind="veth",
            mtu=obj.mtu,
            peer=peer,
            **mac,
        )
    finally:
        os.close(peer_fd)


def _enslave(nl: Netlink, obj: Enslave) -> None:
    nl.ipr(obj.netns).link(
        "set", index=nl.index(obj.netns, obj.ifname), master=nl.index(obj.netns, obj.master)
    )


def _vxlan(nl: Netlink, obj: Vxlan) -> None:
    nl.ipr(obj.netns).link(
        "add",
        index=nl.assign_index(obj.netns, obj.ifname),
        ifname=obj.ifname,
        kind="vxlan",
        address=obj.mac,
        mtu=obj.mtu,
        vxlan_id=obj.vni,
        vxlan_local=obj.local,
        vxlan_port=obj.port,
        vxlan_link=nl.index(obj.netns, obj.dev),
        vxlan_learning=0,
    )


def _ipip(nl: Netlink, obj: Ipip) -> None:
    nl.ipr(obj.netns).link(
        "add",
        index=nl.assign_index(obj.netns, obj.ifname),
        ifname=obj.ifname,
        kind="ipip",
        mtu=obj.mtu,
        ipip_local=obj.local,
        ipip_link=nl.index(obj.netns, obj.dev),
        ipip_ttl=64,
        ipip_pmtudisc=1,
    )


def _link_up(nl: Netlink, obj: LinkUp) -> None:
    nl.ipr(obj.netns).link("set", index=nl.index(obj.netns, obj.ifname), state="up")


def _address(nl: Netlink, obj: Address) -> None:
    ip, prefixlen = obj.cidr.split("/")
    nl.ipr(obj.netns).addr(
        "add", index=nl.index(obj.netns, obj.ifname), address=ip, prefixlen=int(prefixlen)
    )


def _route(nl: Netlink, obj: Route) -> None:
    request: dict[str, Any] = {
        "dst": "0.0.0.0/0" if obj.dst == "default" else obj.dst,
        "oif": nl.index(obj.netns, obj.dev),
    }
    if obj.via:
        request["gateway"] = obj.via
    else:
        request["scope"] = RT_SCOPE_LINK
    if obj.onlink:
        request["flags"] = ["onlink"]
    nl.ipr(obj.netns).route("add", **request)


def _neighbour(nl: Netlink, obj: Neighbour) -> None:
    nl.ipr(obj.netns).neigh(
        "add",
        dst=obj.ip,
        lladdr=obj.mac,
        ifindex=nl.index(obj.netns, obj.ifname),
        state=NUD_PERMANENT,
    )


def _fdb(nl: Netlink, obj: Fdb) -> None:
    nl.ipr(obj.netns).fdb(
        "append",
        ifindex=nl.index(obj.netns, obj.ifname),
        lladdr=obj.mac,
        dst=obj.dst,
        state=NUD_PERMANENT,
    )


HANDLERS: dict[type, Callable[[Netlink, Any], None]] = {
    Netns: _netns,
    Sysctl: _sysctl,
    Bridge: _bridge,
    Veth: _veth,
    Enslave: _enslave,
    Vxlan: _vxlan,
    Ipip: _ipip,
    LinkUp: _link_up,
    Address: _address,
    Route: _route,
    Neighbour: _neighbour,
    Fdb: _fdb,
}


def apply(objects: list[KernelObject], on_step: Callable[[], None] | None = None) -> None:
    """Create every object; the first failure raises ApplyError naming it. A large lab's
    pods are built by one process per CPU (kernel/parallel.py); otherwise in plan order."""
    assigned = assign_indexes(objects)  # the same in every worker process

    def apply_share(share: list[KernelObject], step: Callable[[], None] | None) -> None:
        apply_in_order(share, step, assigned)

    apply_parallel(objects, apply_share, lambda obj, msg: ApplyError(obj, OSError(msg)), on_step)


CREATED_LINKS = (Bridge, Veth, Vxlan, Ipip)


def assign_indexes(objects: list[KernelObject]) -> dict[tuple[str, str], int]:
    """Each link the plan creates gets its ifindex up front, per namespace in plan order,
    so processes building parts of one namespace never pick the same one."""
    out: dict[tuple[str, str], int] = {}
    following: dict[str, int] = {}
    for obj in objects:
        if isinstance(obj, CREATED_LINKS):
            index = following.get(obj.netns, FIRST_ASSIGNED_IFINDEX)
            following[obj.netns] = index + 1
            out[(obj.netns, obj.ifname)] = index
    return out


def apply_in_order(
    objects: list[KernelObject],
    on_step: Callable[[], None] | None = None,
    assigned: dict[tuple[str, str], int] | None = None,
) -> None:
    """Create every object in plan order, in this process."""
    from pyroute2.netlink.exceptions import NetlinkError

    with Netlink(assigned) as nl:
        for obj in objects:
            try:
                HANDLERS[type(obj)](nl, obj)
            except (OSError, NetlinkError, LookupError) as exc:
                raise ApplyError(obj, exc) from exc
            if on_step is not None:
                on_step()
