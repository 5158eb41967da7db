"""Routing profiles: the inter-node data path. One module per profile."""

from __future__ import annotations

from kubenetlab.errors import UsageError
from kubenetlab.routing.base import RoutingProfile
from kubenetlab.routing.bgp import BgpRouting
from kubenetlab.routing.ipip import IpipRouting
from kubenetlab.routing.native import NativeRouting
from kubenetlab.routing.vxlan import VxlanRouting

PROFILES: dict[str, type[RoutingProfile]] = {
    cls.name: cls for cls in (NativeRouting, VxlanRouting, IpipRouting, BgpRouting)
}


def profile_class(name: str) -> type[RoutingProfile]:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UsageError(f"unknown routing profile {name!r} (known: {known})") from None
