"""`bgp`: pod routes announced over BGP by a real BIRD daemon per node (Calico BGP mode).

No encapsulation, as `native`, but kubenetlab installs no inter-node route: each node's
BIRD originates its pod CIDR and installs what its peers announce (`proto bird`).
Topology: Calico's default node-to-node full mesh, or, with `reflector: NODE`, one node
acting as route reflector and the others peering with it only (Calico's advice above
~100 nodes). `lab up` waits for the routes and reports the time to converge.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubenetlab.encap import overhead
from kubenetlab.errors import UsageError
from kubenetlab.model import Lab
from kubenetlab.plan import KernelObject
from kubenetlab.routing.base import Daemon, RoutingProfile
from kubenetlab.routing.bird import render_config

BIRD_CONFIG = "bird-{node}.conf"
BIRD_SOCKET = "bird-{node}.ctl"
BIRD_LOG = "bird-{node}.log"


class BgpRouting(RoutingProfile):
    name = "bgp"
    models = "BGP-announced pod routes, no overlay (Calico BGP, kube-router)"
    encap_overhead = overhead("none")
    tools = (("bird", "bird2"), ("birdc", "bird2"))
    option_defaults: ClassVar[dict[str, Any]] = {"asn": 64512, "reflector": None}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        asn, reflector = options["asn"], options["reflector"]
        if not isinstance(asn, int) or isinstance(asn, bool) or not 1 <= asn <= 4294967295:
            raise UsageError(f"profile 'bgp': asn must be 1-4294967295, not {asn!r}")
        if reflector is not None and not isinstance(reflector, str):
            raise UsageError(f"profile 'bgp': reflector must be a node name, not {reflector!r}")

    def plan(self, lab: Lab) -> list[KernelObject]:
        reflector = lab.profile_options.get("reflector")
        if reflector is not None and reflector not in {n.name for n in lab.nodes}:
            names = ", ".join(n.name for n in lab.nodes)
            raise UsageError(f"profile 'bgp': reflector {reflector!r} is not a node ({names})")
        return []  # every inter-node route comes from BIRD

    def daemons(self, lab: Lab) -> list[Daemon]:
        asn, reflector = lab.profile_options["asn"], lab.profile_options.get("reflector")
        out = []
        for node in lab.nodes:
            conf = BIRD_CONFIG.format(node=node.name)
            sock = BIRD_SOCKET.format(node=node.name)
            out.append(
                Daemon(
                    netns=node.netns,
                    node=node.name,
                    role="bird",
                    argv=("bird", "-f", "-c", f"{{state}}/{conf}", "-s", f"{{state}}/{sock}"),
                    files={conf: render_config(lab, node, asn, reflector)},
                    creates=(sock,),
                    log=BIRD_LOG.format(node=node.name),
                )
            )
        return out
