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
    cluster_endpoints: tuple[Endpoint, ...]  # for Cluster-policy traffic (KUBE-SVC)
    local_endpoints: tuple[Endpoint, ...]  # for Local-policy traffic (KUBE-SVL): on this node
    has_endpoints: bool = False  # any usable endpoint on any node (kube-proxy's hasEndpoints)
    node: str = ""  # the node this was decided for

    @property
    def name(self) -> str:
        """kube-proxy's "namespace/name:port" (its rule comments)."""
        return f"{self.service.key}:{self.port.name}"

    @property
    def protocol(self) -> str:
        return self.port.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return self.port.node_port is not None or bool(self.service.external_addresses)

    @property
    def external_local(self) -> bool:
        """External traffic under `externalTrafficPolicy: Local`."""
        return self.service.local and self.externally_accessible

    @property
    def internal_local(self) -> bool:
        """ClusterIP traffic under `internalTrafficPolicy: Local`."""
        return self.service.internal_traffic_policy == "Local"

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_local or (self.externally_accessible and not self.service.local)

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_local

    @property
    def has_internal_endpoints(self) -> bool:
        """Can ClusterIP traffic go anywhere (Local: only to this node's endpoints)?"""
        return bool(self.local_endpoints) if self.internal_local else self.has_endpoints

    @property
    def has_external_endpoints(self) -> bool:
        return bool(self.local_endpoints) if self.external_local else self.has_endpoints

    @property
    def reachable_endpoints(self) -> tuple[Endpoint, ...]:
        """Cluster endpoints, then the local ones not among them (KUBE-SEP chains)."""
        extra = tuple(e for e in self.local_endpoints if e not in self.cluster_endpoints)
        return self.cluster_endpoints + extra

    @property
    def health_check_node_port(self) -> int | None:
        return self.service.health_check_node_port if self.external_local else None


def categorize_port(svc: Service, port: ServicePort, node: str) -> PortOnNode:
    """kube-proxy's CategorizeEndpoints (without topology hints): ready endpoints for
    Cluster policy, or — when none is ready anywhere — the serving-terminating ones; for
    Local policy this node's ready endpoints, or else its serving-terminating ones."""
    probe = PortOnNode(svc, port, (), ())
    endpoints = svc.endpoints
    cluster: tuple[Endpoint, ...] = ()
    has_any = False
    if probe.uses_cluster_endpoints:
        cluster = tuple(e for e in endpoints if e.ready)
        if not cluster:
            cluster = tuple(e for e in endpoints if e.serving_terminating)
        has_any = bool(cluster)
    local: tuple[Endpoint, ...] = ()
    if probe.uses_local_endpoints:
        has_any = has_any or any(e.ready or e.serving_terminating for e in endpoints)
        local = tuple(e for e in endpoints if e.node == node and e.ready)
        if not local:
            local = tuple(e for e in endpoints if e.node == node and e.serving_terminating)
    return PortOnNode(svc, port, cluster, local, has_any, node)


def categorize(services: Sequence[Service], node: str) -> list[PortOnNode]:
    """Every port of every Service, in order, with its endpoints categorised for `node`."""
    return [categorize_port(svc, port, node) for svc in services for port in svc.ports]
