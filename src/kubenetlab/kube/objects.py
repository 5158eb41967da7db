"""Typed Kubernetes objects: the fields kubenetlab reads, with the API's defaults applied
here once. Named after their API types (`V1Service` is core/v1 Service) so they are
never confused with the proxy's model (`services.Service`: a Service joined with its
endpoints).

`parse(data, location)` takes a dict as a file, the API server or etcd holds it. Objects
from a file have been checked against `schemas` first; objects from an API server are
valid by construction; either way a missing field takes its API default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.inputs import Document
from kubenetlab.kube.labels import HOSTNAME_LABEL, SERVICE_NAME_LABEL

__all__ = ["HOSTNAME_LABEL", "SERVICE_NAME_LABEL"]  # where the readers of objects find them

DEFAULT_NAMESPACE = "default"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")
AFFINITY_DEFAULT_TIMEOUT = 10800  # v1.DefaultClientIPServiceAffinitySeconds (3 hours)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an object came from: a file (with its document's key lines) or an API."""

    file: str
    document: Document | None = None

    def line(self, *path: str | int) -> int | None:
        """The line of the field at `path` (its nearest written parent at worst)."""
        return self.document.line_of(*path) if self.document is not None else None


API = Location("<api>")


@dataclass(frozen=True, slots=True)
class Meta:
    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    location: Location

    @property
    def ref(self) -> str:
        """`Service default/web`, as findings and errors name an object."""
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class KubeObject:
    meta: Meta

    # Shorthands for what findings and errors say of an object.
    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def namespace(self) -> str:
        return self.meta.namespace

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def ref(self) -> str:
        return self.meta.ref

    @property
    def file(self) -> str:
        return self.meta.location.file

    def line(self, *path: str | int) -> int | None:
        return self.meta.location.line(*path)


@dataclass(frozen=True, slots=True)
class V1ServicePort:
    name: str
    port: int
    target_port: int | str | None  # as written: a number, a port name, or unset (= port)
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class V1Service(KubeObject):
    type: str = "ClusterIP"
    cluster_ip: str | None = None  # "None" for a headless Service
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[V1ServicePort, ...] = ()
    selector: Mapping[str, str] = field(default_factory=dict)
    # As written: the API server fills "Cluster" for NodePort and LoadBalancer Services
    # and refuses it on the others (see `etp`).
    external_traffic_policy: str | None = None
    internal_traffic_policy: str = "Cluster"
    health_check_node_port: int | None = None
    external_ips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity: str = "None"
    affinity_timeout: int = AFFINITY_DEFAULT_TIMEOUT  # sessionAffinityConfig.clientIP
    ingress: tuple[tuple[str | None, str | None], ...] = ()  # status.loadBalancer: (ip, ipMode)
    traffic_distribution: str | None = None

    @property
    def etp(self) -> str:
        return self.external_traffic_policy or "Cluster"

    @property
    def external(self) -> bool:
        """Reachable from outside the cluster: NodePort or LoadBalancer."""
        return self.type in ("NodePort", "LoadBalancer")


@dataclass(frozen=True, slots=True)
class SliceEndpoint:
    addresses: tuple[str, ...]
    node_name: str | None = None
    ready: bool = True  # conditions.ready: nil means ready
    serving: bool = True  # conditions.serving: nil means serving
    terminating: bool = False  # conditions.terminating: nil means not terminating
    pod: str | None = None  # targetRef.name when targetRef.kind is Pod


@dataclass(frozen=True, slots=True)
class V1EndpointSlice(KubeObject):
    service_name: str | None = None  # the kubernetes.io/service-name label
    address_type: str = "IPv4"
    ports: tuple[tuple[str, int | None], ...] = ()  # (name, port)
    endpoints: tuple[SliceEndpoint, ...] = ()


@dataclass(frozen=True, slots=True)
class Workload(KubeObject):
    """apps/v1 Deployment, StatefulSet, ReplicaSet or DaemonSet: what places pods."""

    replicas: Any = 1  # as written (a DaemonSet has none: one per node)
    template_labels: Mapping[str, str] = field(default_factory=dict)
    spread_by_hostname: bool = False  # a spread constraint or anti-affinity on the hostname

    def selects(self, selector: Mapping[str, str]) -> bool:
        """A Service with `selector` picks this workload's pods."""
        labels = self.template_labels
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True, slots=True)
class Unmodelled(KubeObject):
    """A kind without a type here yet (HTTPRoute, Gateway, Ingress, Node, …): its dict."""

    data: Mapping[str, Any] = field(default_factory=dict)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def meta_of(data: Mapping[str, Any], location: Location) -> Meta:
    meta = _dict(data.get("metadata"))
    return Meta(
        str(data.get("kind", "")),
        str(meta.get("namespace") or DEFAULT_NAMESPACE),
        str(meta.get("name", "?")),
        {k: v for k, v in _dict(meta.get("labels")).items() if isinstance(v, str)},
        location,
    )


def _service(meta: Meta, data: Mapping[str, Any]) -> V1Service:
    spec = _dict(data.get("spec"))
    ports = tuple(
        V1ServicePort(
            p.get("name", ""), p.get("port"), p.get("targetPort"), p.get("protocol", "TCP"),
            p.get("nodePort"),
        )
        for p in _list(spec.get("ports")) if isinstance(p, dict)
    )  # fmt: skip
    client_ip = _dict(_dict(spec.get("sessionAffinityConfig")).get("clientIP"))
    ingress = _list(_dict(_dict(data.get("status")).get("loadBalancer")).get("ingress"))
    return V1Service(
        meta,
        type=spec.get("type", "ClusterIP"),
        cluster_ip=spec.get("clusterIP"),
        cluster_ips=tuple(_list(spec.get("clusterIPs"))),
        ports=ports,
        selector=_dict(spec.get("selector")),
        external_traffic_policy=spec.get("externalTrafficPolicy"),
        internal_traffic_policy=spec.get("internalTrafficPolicy") or "Cluster",
        health_check_node_port=spec.get("healthCheckNodePort"),
        external_ips=tuple(_list(spec.get("externalIPs"))),
        load_balancer_source_ranges=tuple(_list(spec.get("loadBalancerSourceRanges"))),
        session_affinity=spec.get("sessionAffinity") or "None",
        affinity_timeout=client_ip.get("timeoutSeconds", AFFINITY_DEFAULT_TIMEOUT),
        ingress=tuple((i.get("ip"), i.get("ipMode")) for i in ingress if isinstance(i, dict)),
        traffic_distribution=spec.get("trafficDistribution"),
    )


def _endpoint(e: Mapping[str, Any]) -> SliceEndpoint:
    conditions = _dict(e.get("conditions"))
    ref = _dict(e.get("targetRef"))
    return SliceEndpoint(
        tuple(_list(e.get("addresses"))),
        e.get("nodeName"),
        ready=conditions.get("ready", True) is not False,
        serving=conditions.get("serving", True) is not False,
        terminating=conditions.get("terminating") is True,
        pod=ref.get("name") if ref.get("kind") == "Pod" else None,
    )


def _endpoint_slice(meta: Meta, data: Mapping[str, Any]) -> V1EndpointSlice:
    return V1EndpointSlice(
        meta,
        service_name=meta.labels.get(SERVICE_NAME_LABEL),
        address_type=data.get("addressType", "IPv4"),
        ports=tuple(
            (p.get("name", ""), p.get("port"))
            for p in _list(data.get("ports"))
            if isinstance(p, dict)
        ),
        endpoints=tuple(_endpoint(e) for e in _list(data.get("endpoints")) if isinstance(e, dict)),
    )


def _spread(pod: Mapping[str, Any]) -> bool:
    if any(
        _dict(c).get("topologyKey") == HOSTNAME_LABEL
        for c in _list(pod.get("topologySpreadConstraints"))
    ):
        return True
    anti = _dict(_dict(pod.get("affinity")).get("podAntiAffinity"))
    terms = _list(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms = terms + [
        _dict(t).get("podAffinityTerm", {})
        for t in _list(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))
    ]
    return any(_dict(t).get("topologyKey") == HOSTNAME_LABEL for t in terms)


def _workload(meta: Meta, data: Mapping[str, Any]) -> Workload:
    spec = _dict(data.get("spec"))
    template = _dict(spec.get("template"))
    return Workload(
        meta,
        replicas=spec.get("replicas", 1),
        template_labels=_dict(_dict(template.get("metadata")).get("labels")),
        spread_by_hostname=_spread(_dict(template.get("spec"))),
    )


def parse(data: Mapping[str, Any], location: Location = API) -> KubeObject:
    """The typed object for one Kubernetes object's dict."""
    meta = meta_of(data, location)
    if meta.kind == "Service":
        return _service(meta, data)
    if meta.kind == "EndpointSlice":
        return _endpoint_slice(meta, data)
    if meta.kind in WORKLOAD_KINDS:
        return _workload(meta, data)
    return Unmodelled(meta, data)


def parse_all(docs: Iterable[Any], location: Location = API) -> list[KubeObject]:
    """Every mapping of `docs` (objects from an API server or etcd) as its type."""
    return [parse(d, location) for d in docs if isinstance(d, dict)]
