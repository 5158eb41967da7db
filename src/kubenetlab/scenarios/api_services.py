"""Many Services through a Kubernetes lab's API, as the scenarios that measure the service
proxies at scale make them (churn, service-scale): selector-less Services and the
EndpointSlices a controller would write for them — with the trigger time kube-proxy
measures network programming from — written by several API clients at once, then waited
for until every node's proxy has them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubenetlab.components.kubeproxy import metrics
from kubenetlab.components.proxyagents import read_status
from kubenetlab.errors import KnlError
from kubenetlab.kube.objects import SERVICE_NAME_LABEL
from kubenetlab.live import LiveLab, Member

MAX_SERVICES = 20_000  # the lab's API server and a kube-proxy sync at this size fit 24 GiB
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
WORKERS = 8  # parallel API writers: one client is bound by its round trips, not the API
PORT, TARGET_PORT = 80, 8080

Addresses = list[tuple[str, str]]  # (pod IP, node name) per endpoint


def trigger_stamp() -> str:
    """Now, as the EndpointSlice controller writes last-change-trigger-time (RFC 3339, ns)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def endpoint_slice(name: str, addresses: Addresses, unready: int | None = None) -> dict[str, Any]:
    """Service `name`'s EndpointSlice (`<name>-1`), stamped with its trigger time; the
    endpoint at index `unready` not ready."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "labels": {SERVICE_NAME_LABEL: name},
                     "annotations": {TRIGGER: trigger_stamp()}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": TARGET_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": i != unready}}
                      for i, (ip, node) in enumerate(addresses)],
    }  # fmt: skip


# (key, namespace, the Service, its EndpointSlice made when the Service is): what to create
Item = tuple[str, str, dict[str, Any], Callable[[], dict[str, Any]]]


def _create_all(kubeconfig: Path, items: list[Item]) -> dict[str, str]:
    """Each Service and then its EndpointSlice (made at that moment: its trigger time),
    WORKERS clients at a time; the ClusterIP the API gave each, by key."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from kubenetlab.controlplane.objects import api_client

    local = threading.local()

    def one(item: Item) -> tuple[str, str]:
        if not hasattr(local, "apis"):
            api = api_client(kubeconfig)
            local.apis = (client.CoreV1Api(api), client.DiscoveryV1Api(api))
        core, discovery = local.apis
        key, namespace, svc, endpoint_slice_of = item
        try:
            made = core.create_namespaced_service(namespace, svc)
            discovery.create_namespaced_endpoint_slice(namespace, endpoint_slice_of())
        except ApiException as exc:
            raise KnlError(
                f"the lab's API server refused Service {key}: {exc.status} {_reason(exc)}"
            ) from None
        return key, made.spec.cluster_ip

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(one, items))


def create(
    kubeconfig: Path, names: list[str], addresses_of: Callable[[int], Addresses]
) -> dict[str, str]:
    """Each named Service (in `default`) with its EndpointSlice; the ClusterIP the API gave
    each. `addresses_of(i)` are the endpoints of names[i]."""

    def item(i: int, name: str) -> Item:
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"ports": [{"name": "http", "port": PORT, "targetPort": TARGET_PORT}]}}  # fmt: skip
        return name, "default", svc, lambda: endpoint_slice(name, addresses_of(i))

    return _create_all(kubeconfig, [item(i, name) for i, name in enumerate(names)])


def create_population(kubeconfig: Path, population: Any,
                      address_of: dict[tuple[int, int], tuple[str, str]]) -> dict[str, str]:  # fmt: skip
    """A population's namespaces, then each Service with its EndpointSlice; the ClusterIP
    the API gave each, by namespace/name. `population`: a service_scale.Population
    (assess.replay.Replay)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from kubenetlab.controlplane.objects import api_client

    core = client.CoreV1Api(api_client(kubeconfig))
    for namespace in population.namespaces:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        try:
            core.create_namespace(body)
        except ApiException as exc:
            if exc.status != 409:  # 409: it exists (default, kube-system)
                raise KnlError(f"the lab's API server refused namespace {namespace}: "
                               f"{exc.status} {_reason(exc)}") from None  # fmt: skip

    def item(svc: Any) -> Item:
        body = svc.service()
        return svc.key, body["metadata"]["namespace"], body, lambda: svc.endpoint_slice(address_of)

    return _create_all(kubeconfig, [item(s) for s in population.services])


def _reason(exc: Any) -> str:
    """The API's own message (a Status body), else the HTTP reason."""
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


def service_member(name: str, cluster_ip: str) -> Member:
    """A Service created here, as a bench destination (its ClusterIP and port)."""
    return Member(f"default/{name}", "", cluster_ip, "", "service", PORT)


def wait_programmed(live: LiveLab, proxy_name: str, want: int, seconds: float = 900) -> None:
    """Until every node's proxy has seen `want` Services and has nothing pending."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proxy_name == "ebpf":
            rows = [read_status(live.ledger, node.name) for node in live.lab.nodes]
            if all(r.get("services", 0) >= want for r in rows):
                return
        else:
            now = [metrics(node) for node in live.lab.nodes]
            if all(m.pending == 0 and m.service_changes >= want for m in now):
                return
        time.sleep(0.2)
    raise KnlError(f"the {proxy_name} proxies did not program {want:,} Services in {seconds:.0f} s")
