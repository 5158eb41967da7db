"""`native`: direct routing on a shared L2, no encapsulation.

Models Cilium's `routingMode=native` with `autoDirectNodeRoutes=true` (and
Flannel's host-gw): every node routes each other node's pod CIDR via that node's
underlay IP. Requires the nodes to share an L2 segment, which the fabric bridge is.
"""

from __future__ import annotations

from kubenetlab.encap import overhead
from kubenetlab.model import Lab
from kubenetlab.plan import KernelObject, Route
from kubenetlab.routing.base import RoutingProfile
from kubenetlab.topology import NODE_UPLINK


class NativeRouting(RoutingProfile):
    name = "native"
    models = "direct routing (Cilium autoDirectNodeRoutes, Flannel host-gw)"
    encap_overhead = overhead("none")

    def plan(self, lab: Lab) -> list[KernelObject]:
        return [
            Route(node.netns, str(peer.pod_cidr), dev=NODE_UPLINK, via=str(peer.underlay_ip))
            for node in lab.nodes
            for peer in lab.nodes
            if peer is not node
        ]
