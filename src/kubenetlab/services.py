"""Services and their endpoints: one model that every service proxy renders.

Built from the lab spec's `services:` (endpoints are lab pods) or from real Kubernetes
objects (`v1 Service` + `discovery.k8s.io/v1 EndpointSlice`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from kubenetlab.errors import UsageError
from kubenetlab.kube.objects import (
    AFFINITY_DEFAULT_TIMEOUT,
    KubeObject,
    V1EndpointSlice,
    V1Service,
    V1ServicePort,
)

NODE_PORT_RANGE = (30000, 32767)  # kube-apiserver --service-node-port-range default
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Endpoint:
    ip: str
    node: str | None  # None: not known to be on any node (never local)
    ready: bool = True
    pod: str | None = None
    serving: bool = True  # EndpointSlice conditions.serving (unset means true)
    terminating: bool = False  # conditions.terminating (unset means false)

    @property
    def serving_terminating(self) -> bool:
        """Still serving while terminating: kube-proxy's fallback when nothing is ready."""
        return self.serving and self.terminating


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]
    type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer
    external_traffic_policy: str = "Cluster"  # Cluster | Local
    health_check_node_port: int | None = None
    endpoints: tuple[Endpoint, ...] = ()
    external_ips: tuple[str, ...] = ()  # spec.externalIPs
    load_balancer_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress[].ip
    source_ranges: tuple[str, ...] = ()  # spec.loadBalancerSourceRanges
    affinity_timeout: int | None = None  # sessionAffinity ClientIP: its timeoutSeconds
    internal_traffic_policy: str = "Cluster"  # Cluster | Local

    @property
    def external_addresses(self) -> tuple[str, ...]:
        """Where external traffic arrives besides node ports: external IPs, then LB IPs."""
        return self.external_ips + self.load_balancer_ips

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def local(self) -> bool:
        return self.external_traffic_policy == "Local"

    def ready_endpoints(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.ready]

    def local_endpoints(self, node: str) -> list[Endpoint]:
        return [e for e in self.ready_endpoints() if e.node == node]

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "cluster_ip": self.cluster_ip,
            "type": self.type,
            "external_traffic_policy": self.external_traffic_policy,
            "health_check_node_port": self.health_check_node_port,
            "ports": [p.__dict__ for p in self.ports],
            "endpoints": [e.__dict__ for e in self.endpoints],
            "external_ips": list(self.external_ips),
            "load_balancer_ips": list(self.load_balancer_ips),
            "source_ranges": list(self.source_ranges),
            "affinity_timeout": self.affinity_timeout,
            "internal_traffic_policy": self.internal_traffic_policy,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Service:
        return cls(
            namespace=d["namespace"],
            name=d["name"],
            cluster_ip=d["cluster_ip"],
            type=d["type"],
            external_traffic_policy=d["external_traffic_policy"],
            health_check_node_port=d.get("health_check_node_port"),
            ports=tuple(ServicePort(**p) for p in d["ports"]),
            endpoints=tuple(Endpoint(**e) for e in d["endpoints"]),
            external_ips=tuple(d.get("external_ips", ())),
            load_balancer_ips=tuple(d.get("load_balancer_ips", ())),
            source_ranges=tuple(d.get("source_ranges", ())),
            affinity_timeout=d.get("affinity_timeout"),
            internal_traffic_policy=d.get("internal_traffic_policy", "Cluster"),
        )


SPEC_KEYS = {
    "name",
    "namespace",
    "type",
    "port",
    "target_port",
    "protocol",
    "node_port",
    "external_traffic_policy",
    "health_check_node_port",
    "pods",
    "replicas",
    "external_ips",
    "load_balancer_ips",
    "load_balancer_source_ranges",
    "session_affinity",
    "session_affinity_timeout",
}


def from_spec(
    items: Any,
    pods: list[tuple[str, str, str]],
    service_cidr: IPv4Network,
    node_port_range: tuple[int, int] = NODE_PORT_RANGE,
) -> tuple[Service, ...]:
    """`services:` entries; `pods` is (name, node, ip) of the lab's pods in order. Node
    ports are checked against the lab's range, as the API server (the lab plays it) does."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise UsageError("services must be a list")
    by_name = {name: (node, ip) for name, node, ip in pods}
    first_ip = _first_cluster_ip(len(items), service_cidr)
    taken_node_ports: set[int] = set()
    out: list[Service] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UsageError(f"services[{i}] must be a mapping")
        unknown = sorted(set(item) - SPEC_KEYS)
        if unknown:
            allowed = ", ".join(sorted(SPEC_KEYS))
            raise UsageError(f"unknown key {unknown[0]!r} in services[{i}] (allowed: {allowed})")
        name = item.get("name")
        namespace = item.get("namespace", "default")
        for label, value in (("name", name), ("namespace", namespace)):
            if not isinstance(value, str) or not DNS_LABEL.match(value):
                raise UsageError(f"services[{i}].{label} {value!r} must be a DNS label")
        kind = item.get("type", "ClusterIP")
        if kind not in ("ClusterIP", "NodePort", "LoadBalancer"):
            raise UsageError(
                f"service {name}: type must be ClusterIP, NodePort or LoadBalancer, not {kind!r}"
            )
        etp = item.get("external_traffic_policy", "Cluster")
        if etp not in ("Cluster", "Local"):
            raise UsageError(f"service {name}: external_traffic_policy must be Cluster or Local")
        if etp == "Local" and kind == "ClusterIP":
            raise UsageError(
                f"service {name}: external_traffic_policy Local needs type NodePort or LoadBalancer"
            )
        protocol = item.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP"):
            raise UsageError(f"service {name}: protocol must be TCP or UDP")
        port = _port(item.get("port", 80), f"service {name}: port")
        target = _port(item.get("target_port", port), f"service {name}: target_port")
        node_port = None
        low, high = node_port_range
        if kind != "ClusterIP":
            node_port = item.get("node_port") or _free_node_port(
                taken_node_ports, min(low + 80, high) + i, node_port_range
            )
            node_port = _node_port(node_port, name, taken_node_ports, node_port_range)
        hc = None
        if etp == "Local" and kind == "LoadBalancer":  # the API server allocates it for these only
            hc = item.get("health_check_node_port") or _free_node_port(
                taken_node_ports, max(high - 767, low) + i, node_port_range
            )
            hc = _node_port(hc, name, taken_node_ports, node_port_range)
        elif item.get("health_check_node_port") is not None:
            # the API server refuses it: healthCheckNodePort exists for LoadBalancer + Local
            raise UsageError(
                f"service {name}: health_check_node_port needs type LoadBalancer and "
                "external_traffic_policy Local (as the API server admits it)"
            )
        endpoints = tuple(
            Endpoint(ip=by_name[p][1], node=by_name[p][0], pod=p)
            for p in _placement(item, name, pods)
        )
        cluster_ip = str(first_ip + i)
        sport = ServicePort("http", port, target, protocol, node_port)
        extras = _spec_extras(item, name, kind)
        out.append(
            Service(namespace, name, cluster_ip, (sport,), kind, etp, hc, endpoints, **extras)
        )
    keys = [s.key for s in out]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise UsageError(f"duplicate service {dup}")
    return tuple(out)


def _first_cluster_ip(count: int, service_cidr: IPv4Network) -> IPv4Address:
    """ClusterIPs inside service_cidr: from .10 where the range has room (the lab's habit),
    else right after the `kubernetes` Service's .1, as the API server's allocator could."""
    hosts = service_cidr.num_addresses - 2  # network and broadcast addresses are never given
    for offset in (10, 2):
        if offset - 1 + count <= hosts:
            return service_cidr.network_address + offset
    raise UsageError(
        f"service_cidr {service_cidr} holds {max(hosts - 1, 0)} ClusterIPs besides the kubernetes "
        f"Service's; {count} Services need a larger range"
    )


def _addresses(value: Any, what: str, network: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{what} must be a list of IPv4 {'CIDRs' if network else 'addresses'}")
    try:
        return tuple(str(IPv4Network(v.strip()) if network else IPv4Address(v)) for v in value)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


def _spec_extras(item: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    """externalIPs, the LoadBalancer's ingress IPs and source ranges, session affinity."""
    out: dict[str, Any] = {}
    if "external_ips" in item:
        out["external_ips"] = _addresses(item["external_ips"], f"service {name}: external_ips")
    for key, field_name, network in (
        ("load_balancer_ips", "load_balancer_ips", False),
        ("load_balancer_source_ranges", "source_ranges", True),
    ):
        if key in item:
            if kind != "LoadBalancer":
                raise UsageError(f"service {name}: {key} needs type LoadBalancer")
            out[field_name] = _addresses(item[key], f"service {name}: {key}", network)
    affinity = item.get("session_affinity", "None")
    if affinity not in ("None", "ClientIP"):
        raise UsageError(f"service {name}: session_affinity must be None or ClientIP")
    timeout = item.get("session_affinity_timeout", AFFINITY_DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86400:
        raise UsageError(f"service {name}: session_affinity_timeout must be 1-86400 seconds")
    if affinity == "ClientIP":
        out["affinity_timeout"] = timeout
    return out


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise UsageError(f"{what} must be 1-65535, not {value!r}")
    return value


def _free_node_port(taken: set[int], start: int, span: tuple[int, int]) -> int:
    """The first free port from `start`, wrapping round the range (the API server's
    allocator picks at random; a fixed order keeps the lab's rules reproducible)."""
    low, high = span
    size = high - low + 1
    for step in range(size):
        port = low + (start - low + step) % size
        if port not in taken:
            return port
    raise UsageError(f"every node port in {low}-{high} is taken (service_node_port_range)")


def _node_port(value: Any, name: str, taken: set[int], span: tuple[int, int]) -> int:
    low, high = span
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(
            f"service {name}: node port {value!r} is outside service_node_port_range {low}-{high}"
        )
    if value in taken:
        raise UsageError(f"service {name}: node port {value} is already used")
    taken.add(value)
    return value


def _placement(item: dict[str, Any], name: str, pods: list[tuple[str, str, str]]) -> list[str]:
    """Explicit `pods:`, or `replicas: N` spread over nodes like a scheduler with spreading."""
    names = [p for p, _, _ in pods]
    if "pods" in item:
        chosen = item["pods"]
        if not isinstance(chosen, list) or not all(isinstance(p, str) for p in chosen):
            raise UsageError(f"service {name}: pods must be a list of pod names")
        missing = [p for p in chosen if p not in names]
        if missing:
            raise UsageError(f"service {name}: no pod {missing[0]!r} in the lab")
        twice = next((p for p in chosen if chosen.count(p) > 1), None)
        if twice:  # a pod is one endpoint; listed twice it would get twice the traffic
            raise UsageError(f"service {name}: pod {twice!r} is listed twice in pods")
        return chosen
    replicas = item.get("replicas", 1)
    if (
        isinstance(replicas, bool)
        or not isinstance(replicas, int)
        or not 0 <= replicas <= len(names)
    ):
        raise UsageError(f"service {name}: replicas must be 0-{len(names)}, not {replicas!r}")
    by_node: dict[str, list[str]] = {}
    for p, node, _ in pods:
        by_node.setdefault(node, []).append(p)
    order = [p for round_ in _zip_longest(list(by_node.values())) for p in round_]
    return order[:replicas]


def _zip_longest(lists: list[list[str]]) -> list[list[str]]:
    depth = max((len(x) for x in lists), default=0)
    return [[x[i] for x in lists if i < len(x)] for i in range(depth)]


@dataclass(frozen=True)
class Unsupported:
    """Something kube-proxy would program that kubenetlab does not: said, never dropped."""

    service: str
    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"service": self.service, "field": self.field, "reason": self.reason}


def from_kubernetes(objects: Sequence[KubeObject]) -> tuple[Service, ...]:
    return read_kubernetes(objects)[0]


def read_kubernetes(
    objects: Sequence[KubeObject],
) -> tuple[tuple[Service, ...], list[Unsupported]]:
    """v1 Services (with a clusterIP) joined with their EndpointSlices, and what in them
    kubenetlab cannot render (IPv6, topology hints, …)."""
    slices: dict[tuple[str, str], list[V1EndpointSlice]] = {}
    for o in objects:
        if isinstance(o, V1EndpointSlice) and o.service_name:
            slices.setdefault((o.meta.namespace, o.service_name), []).append(o)
    out: list[Service] = []
    unsupported: list[Unsupported] = []
    seen: set[str] = set()
    for o in objects:
        if isinstance(o, V1Service):
            svc = _kube_service(o, slices, unsupported)
            if svc is None:
                continue
            if svc.key in seen:  # two objects cannot share a name in one cluster
                unsupported.append(Unsupported(
                    svc.key, "metadata.name", "a second Service of this name: skipped (the first is rendered)"
                ))  # fmt: skip
                continue
            seen.add(svc.key)
            out.append(svc)
    return tuple(out), unsupported


def _kube_service(
    v1: V1Service, slices: dict[tuple[str, str], list[V1EndpointSlice]], gaps: list[Unsupported]
) -> Service | None:
    ns, name, key = v1.meta.namespace, v1.meta.name, v1.meta.key
    cluster_ip = v1.cluster_ip
    if v1.type == "ExternalName":
        gaps.append(Unsupported(
            key, "spec.type", "ExternalName: a DNS alias, kube-proxy programs no rules for it; skipped"
        ))  # fmt: skip
        return None
    if not cluster_ip or cluster_ip == "None":
        gaps.append(Unsupported(
            key, "spec.clusterIP", "headless (clusterIP None): kube-proxy programs no rules for it; skipped"
        ))  # fmt: skip
        return None
    if ":" in cluster_ip:
        gaps.append(
            Unsupported(key, "spec.clusterIP", "IPv6 Service: kubenetlab renders IPv4 only")
        )
        return None
    gaps += _kube_gaps(v1)
    endpoints, port_targets = _kube_endpoints(key, slices.get((ns, name), []), gaps)
    return Service(
        ns, name, cluster_ip, tuple(_kube_port(p, port_targets) for p in v1.ports),
        v1.type, v1.etp, v1.health_check_node_port, tuple(endpoints),
        external_ips=tuple(ip for ip in v1.external_ips if ":" not in ip),
        # kube-proxy leaves ingress IPs with ipMode Proxy to the load balancer (KEP-1860)
        load_balancer_ips=tuple(
            ip for ip, mode in v1.ingress if ip and ":" not in ip and mode != "Proxy"
        ),
        source_ranges=tuple(r.strip() for r in v1.load_balancer_source_ranges if ":" not in r),
        affinity_timeout=v1.affinity_timeout if v1.session_affinity == "ClientIP" else None,
        internal_traffic_policy=v1.internal_traffic_policy,
    )  # fmt: skip


def _kube_gaps(v1: V1Service) -> list[Unsupported]:
    gaps, key = [], v1.meta.key
    for i, ip in enumerate(v1.cluster_ips):
        if ":" in ip:
            gaps.append(Unsupported(key, f"spec.clusterIPs[{i}]", "IPv6 address: not rendered"))
    for i, ip in enumerate(v1.external_ips):
        if ":" in ip:
            gaps.append(Unsupported(key, f"spec.externalIPs[{i}]", "IPv6 address: not rendered"))
    if v1.traffic_distribution:
        gaps.append(Unsupported(
            key, "spec.trafficDistribution", "topology-aware routing is not rendered (all endpoints used)"
        ))  # fmt: skip
    return gaps


def _kube_endpoints(
    key: str, slices: list[V1EndpointSlice], gaps: list[Unsupported]
) -> tuple[list[Endpoint], dict[str, int]]:
    endpoints: list[Endpoint] = []
    port_targets: dict[str, int] = {}
    for s in slices:
        if s.address_type != "IPv4":
            gaps.append(Unsupported(
                key, f"EndpointSlice {s.meta.name}", f"addressType {s.address_type}: not rendered"
            ))  # fmt: skip
            continue
        for port_name, port in s.ports:
            port_targets[port_name] = port  # type: ignore[assignment]
        for i, e in enumerate(s.endpoints):
            for ip in e.addresses:
                problem = endpoint_address_problem(ip)
                if problem:
                    gaps.append(Unsupported(
                        key, f"EndpointSlice {s.meta.name} endpoints[{i}]", f"{ip}: {problem}; skipped"
                    ))  # fmt: skip
                    continue
                endpoints.append(Endpoint(
                    ip, e.node_name, e.ready, e.pod, serving=e.serving, terminating=e.terminating,
                ))  # fmt: skip
    return endpoints, port_targets


def endpoint_address_problem(ip: str) -> str | None:
    """Why an endpoint address cannot be a backend: the API server refuses unspecified,
    loopback, link-local and multicast endpoint addresses (ValidateEndpointIP); a limited
    broadcast address cannot be a host either."""
    try:
        addr = IPv4Address(ip)
    except ValueError:
        return "not an IPv4 address"
    for test, what in (
        (addr.is_unspecified, "unspecified"), (addr.is_loopback, "loopback"),
        (addr.is_link_local, "link-local"), (addr.is_multicast, "multicast"),
        (addr == IPv4Address("255.255.255.255"), "the limited broadcast address"),
    ):  # fmt: skip
        if test:
            return f"{what} address, which the API server refuses for an endpoint"
    return None


def _kube_port(p: V1ServicePort, slice_ports: dict[str, int]) -> ServicePort:
    """The EndpointSlice's port for this port name wins; a numeric targetPort otherwise."""
    written = p.target_port if p.target_port is not None else p.port
    target = slice_ports.get(p.name, written)
    if not isinstance(target, int):  # a named targetPort with no EndpointSlice to resolve it
        target = p.port
    return ServicePort(p.name, p.port, target, p.protocol, p.node_port)
