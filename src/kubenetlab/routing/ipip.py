"""`ipip`: a Calico-style IP-in-IP overlay (`ipipMode: Always`).

As calico-node programs it: one IPIP tunnel per node (Calico's `tunl0`, here a named
point-to-multipoint device with remote any), holding an address from the node's pod
block, and for every other node a route to its pod CIDR via its underlay IP through
the tunnel, onlink. Overhead is the outer IPv4 header, 20 bytes, so the tunnel and the
default pod MTU are the underlay MTU − 20 (Calico's 1480 on a 1500 network).
Needs CONFIG_NET_IPIP; without it `lab up` exits 3 naming the option.
"""

from __future__ import annotations

from kubenetlab.encap import overhead
from kubenetlab.model import Lab
from kubenetlab.plan import Address, Ipip, KernelObject, LinkUp, Route
from kubenetlab.routing.base import RoutingProfile
from kubenetlab.topology import NODE_UPLINK

IPIP_IFNAME = "knl-ipip"
IPIP_OVERHEAD = overhead("ipip")


class IpipRouting(RoutingProfile):
    name = "ipip"
    models = "Calico IPIP overlay"
    encap_overhead = IPIP_OVERHEAD
    kernel_options = ("CONFIG_NET_IPIP",)

    def plan(self, lab: Lab) -> list[KernelObject]:
        mtu = lab.underlay_mtu - IPIP_OVERHEAD
        objects: list[KernelObject] = []
        for node in lab.nodes:
            ns = node.netns
            objects += [
                Ipip(ns, IPIP_IFNAME, local=str(node.underlay_ip), dev=NODE_UPLINK, mtu=mtu),
                Address(ns, IPIP_IFNAME, f"{node.pod_cidr.network_address}/32"),
                LinkUp(ns, IPIP_IFNAME),
            ]
            objects += [
                Route(ns, str(p.pod_cidr), dev=IPIP_IFNAME, via=str(p.underlay_ip), onlink=True)
                for p in lab.nodes
                if p is not node
            ]
        return objects
