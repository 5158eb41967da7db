"""The lab's control-plane store: etcd v3 over its JSON gateway, with Services and
EndpointSlices kept as Kubernetes JSON under the API server's `/registry/…` keys.

Plain HTTP on loopback (etcd's grpc-gateway: `/v3/kv/put`, `/v3/kv/range`,
`/v3/kv/deleterange`, the streaming `/v3/watch`), so no gRPC stack is needed. Keys and
values travel base64-encoded, as the gateway wants. The API server stores protobuf by
default; `--storage-media-type=application/json` stores what is stored here.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from kubenetlab.services import Endpoint, Service

REGISTRY = "/registry/"
SERVICES = "/registry/services/specs/"
SLICES = "/registry/endpointslices/"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """etcd's range_end for "every key starting with prefix"."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class Event:
    kind: str  # "PUT" | "DELETE"
    key: str
    value: str | None
    revision: int


class EtcdError(OSError):
    """etcd did not answer (down, or not yet up)."""


class Etcd:
    def __init__(self, url: str, timeout: float = 3.0) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 2379
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            method = "POST" if body is not None else "GET"
            conn.request(method, path, body=json.dumps(body) if body is not None else None)
            response = conn.getresponse()
            data = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise EtcdError(f"etcd at {self.host}:{self.port}: {exc}") from None
        finally:
            conn.close()
        if response.status != 200:
            raise EtcdError(f"etcd {path}: HTTP {response.status} {data}")
        return dict(data)

    def health(self) -> bool:
        return self._call("/health").get("health") == "true"

    def put(self, key: str, value: str) -> int:
        """Store; the revision of the write."""
        reply = self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
        return int(reply["header"]["revision"])

    def delete(self, key: str) -> int:
        return int(self._call("/v3/kv/deleterange", {"key": _b64(key)})["header"]["revision"])

    def get_prefix(self, prefix: str) -> tuple[dict[str, str], int]:
        """Every key under prefix and the store's revision at that read."""
        reply = self._call(
            "/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))}
        )
        items = {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in reply.get("kvs", [])}
        return items, int(reply["header"]["revision"])

    def revision(self) -> int:
        return self.get_prefix("/knl-revision-probe/")[1]

    def watch(self, prefix: str, start_revision: int) -> Iterator[list[Event]]:
        """Batches of events under prefix from start_revision on, as etcd streams them;
        EtcdError when the stream breaks (etcd gone)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
        create = {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                  "start_revision": start_revision}  # fmt: skip
        try:
            conn.request("POST", "/v3/watch", body=json.dumps({"create_request": create}))
            response = conn.getresponse()
            for line in response:
                if not line.strip():
                    continue
                result = json.loads(line).get("result", {})
                events = [_event(e) for e in result.get("events", [])]
                if events:
                    yield events
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise EtcdError(f"etcd watch broke: {exc}") from None
        finally:
            conn.close()
        raise EtcdError("etcd closed the watch stream")


def _event(e: dict[str, Any]) -> Event:
    kv = e.get("kv", {})
    value = _unb64(kv["value"]) if "value" in kv else None
    return Event(e.get("type", "PUT"), _unb64(kv["key"]), value, int(kv.get("mod_revision", 0)))


def service_key(svc: Service) -> str:
    return f"{SERVICES}{svc.namespace}/{svc.name}"


def slice_key(svc: Service) -> str:
    return f"{SLICES}{svc.namespace}/{svc.name}-knl"


def to_kubernetes(svc: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    """A v1 Service and its one discovery.k8s.io/v1 EndpointSlice (what
    services.read_kubernetes reads back to the same model)."""
    spec: dict[str, Any] = {
        "type": svc.type,
        "clusterIP": svc.cluster_ip,
        "ports": [
            {"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": p.protocol,
             **({"nodePort": p.node_port} if p.node_port else {})}
            for p in svc.ports
        ],
        "externalTrafficPolicy": svc.external_traffic_policy,
    }  # fmt: skip
    if svc.health_check_node_port:
        spec["healthCheckNodePort"] = svc.health_check_node_port
    if svc.external_ips:
        spec["externalIPs"] = list(svc.external_ips)
    if svc.source_ranges:
        spec["loadBalancerSourceRanges"] = list(svc.source_ranges)
    if svc.affinity_timeout is not None:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc.affinity_timeout}}
    meta = {"name": svc.name, "namespace": svc.namespace}
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": spec,
    }
    if svc.load_balancer_ips:
        service["status"] = {
            "loadBalancer": {"ingress": [{"ip": ip} for ip in svc.load_balancer_ips]}
        }
    return service, _slice(svc)


def _slice(svc: Service) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc.name}-knl", "namespace": svc.namespace,
                     "labels": {"kubernetes.io/service-name": svc.name}},
        "addressType": "IPv4",
        "endpoints": [_endpoint(e) for e in svc.endpoints],
        "ports": [{"name": p.name, "port": p.target_port, "protocol": p.protocol}
                  for p in svc.ports],
    }  # fmt: skip


def _endpoint(e: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": [e.ip], "conditions": {"ready": e.ready}}
    if e.node:
        out["nodeName"] = e.node
    if e.pod:
        out["targetRef"] = {"kind": "Pod", "name": e.pod}
    return out


def write_services(store: Etcd, services: tuple[Service, ...]) -> int:
    """Put every Service and its EndpointSlice; the revision of the last write."""
    revision = 0
    for svc in services:
        service, slice_ = to_kubernetes(svc)
        store.put(service_key(svc), json.dumps(service))
        revision = store.put(slice_key(svc), json.dumps(slice_))
    return revision


def write_endpoints(store: Etcd, svc: Service) -> int:
    """An endpoint change, as the EndpointSlice controller writes it."""
    return store.put(slice_key(svc), json.dumps(_slice(svc)))
