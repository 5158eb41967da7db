"""Each Service port as one node's proxy sees it, decided once for every backend.

kube-proxy does this in `CategorizeEndpoints` (pkg/proxy/topology.go): which endpoints
serve cluster traffic, which serve external traffic under `externalTrafficPolicy: Local`
(the ready endpoints on this node), and whether there are any. The iptables, nftables
(and next, eBPF) backends only write what this decides; their chain names stay with
them, as in kube-proxy's per-proxier service info.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubenetlab.services import Endpoint, Service, ServicePort


@dataclass(frozen=True)
class PortOnNode:
    service: Service
    port: ServicePort
    cluster_endpoints: tuple[Endpoint, ...]  # ClusterIP traffic and Cluster-policy NodePorts
    local_endpoints: tuple[Endpoint, ...]  # Local-policy external traffic: ready, on this node

    @property
    def name(self) -> str:
        """kube-proxy's "namespace/name:port" (its rule comments)."""
        return f"{self.service.key}:{self.port.name}"

    @property
    def protocol(self) -> str:
        return self.port.protocol.lower()

    @property
    def has_endpoints(self) -> bool:
        return bool(self.cluster_endpoints)

    @property
    def external_local(self) -> bool:
        """NodePort traffic under `externalTrafficPolicy: Local`."""
        return self.service.local and self.port.node_port is not None

    @property
    def health_check_node_port(self) -> int | None:
        return self.service.health_check_node_port if self.external_local else None


def categorize(services: Sequence[Service], node: str) -> list[PortOnNode]:
    """Every port of every Service, in order, with its endpoints categorised for `node`."""
    out = []
    for svc in services:
        ready = tuple(svc.ready_endpoints())
        local = tuple(e for e in ready if e.node == node)
        out += [PortOnNode(svc, port, ready, local) for port in svc.ports]
    return out
