"""`vxlan`: a Flannel-style VXLAN overlay.

As Flannel's vxlan backend (`pkg/backend/vxlan`) programs it: one VXLAN device per
node (Flannel's `flannel.1`: VNI 1, UDP port 8472, the Linux default rather than
IANA's 4789, learning off), holding the node's pod-CIDR network address as a /32.
For every other node: a permanent neighbour entry (its VTEP address → its VTEP MAC),
an FDB entry (VTEP MAC → its underlay IP) and a route to its pod CIDR via its VTEP
address, onlink. The VTEP MTU is the underlay MTU − 50 (outer IPv4 20 + UDP 8 +
VXLAN 8 + inner Ethernet 14), and so is the default pod MTU.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubenetlab.encap import overhead
from kubenetlab.errors import UsageError
from kubenetlab.model import Lab, Node
from kubenetlab.plan import Address, Fdb, KernelObject, LinkUp, Neighbour, Route, Vxlan
from kubenetlab.routing.base import RoutingProfile
from kubenetlab.topology import NODE_UPLINK

VXLAN_IFNAME = "knl-vxlan"
VXLAN_OVERHEAD = overhead("vxlan")


def vtep_mac(node: Node) -> str:
    """Deterministic, locally administered, unique within the lab."""
    i = node.index
    return f"0e:6b:6c:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def vtep_ip(node: Node) -> str:
    return str(node.pod_cidr.network_address)


class VxlanRouting(RoutingProfile):
    name = "vxlan"
    models = "Flannel VXLAN overlay"
    encap_overhead = VXLAN_OVERHEAD
    kernel_options = ("CONFIG_VXLAN",)
    option_defaults: ClassVar[dict[str, Any]] = {"port": 8472, "vni": 1}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        port, vni = options["port"], options["vni"]
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise UsageError(f"profile 'vxlan': port must be 1-65535 (8472 or 4789), not {port!r}")
        if not isinstance(vni, int) or not 1 <= vni < 1 << 24:
            raise UsageError(f"profile 'vxlan': vni must be 1-16777215, not {vni!r}")

    def plan(self, lab: Lab) -> list[KernelObject]:
        port, vni = lab.profile_options["port"], lab.profile_options["vni"]
        vtep_mtu = lab.underlay_mtu - VXLAN_OVERHEAD
        objects: list[KernelObject] = []
        for node in lab.nodes:
            ns = node.netns
            objects += [
                Vxlan(
                    ns,
                    VXLAN_IFNAME,
                    vni=vni,
                    local=str(node.underlay_ip),
                    port=port,
                    dev=NODE_UPLINK,
                    mtu=vtep_mtu,
                    mac=vtep_mac(node),
                ),
                Address(ns, VXLAN_IFNAME, f"{vtep_ip(node)}/32"),
                LinkUp(ns, VXLAN_IFNAME),
            ]
            for peer in lab.nodes:
                if peer is node:
                    continue
                objects += [
                    Neighbour(ns, VXLAN_IFNAME, vtep_ip(peer), vtep_mac(peer)),
                    Fdb(ns, VXLAN_IFNAME, vtep_mac(peer), str(peer.underlay_ip)),
                    Route(ns, str(peer.pod_cidr), dev=VXLAN_IFNAME, via=vtep_ip(peer), onlink=True),
                ]
        return objects
