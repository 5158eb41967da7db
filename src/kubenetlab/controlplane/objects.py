"""What the lab spec declares, created through the lab's API server with the official
`kubernetes` client (chosen over lightkube because cluster mode needs its pods/exec
streaming, which lightkube does not have) — its ApiClient and plain JSON paths here.

Until the lab's pods are the API's Pods (virtual kubelets, next), a spec's Service is made
as Kubernetes makes a Service without a selector: the Service with the lab's ClusterIP and
node ports, and an EndpointSlice, managed by kubenetlab, listing the lab pods behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubenetlab.errors import KnlError
from kubenetlab.model import Lab
from kubenetlab.services import Service

MANAGED_BY = "kubenetlab"


def api_client(kubeconfig: Path, retries: bool = True) -> Any:
    """A client of the lab's API; without retries for status questions, which must answer
    within their timeout when the API server hangs (etcd gone)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    if not retries:
        configuration.retries = 0
    return client.ApiClient(configuration)


class Api:
    """Plain JSON requests to the lab's API: the client's generated API classes cost
    1.3 s to import (CoreV1Api), paid by every `lab up` that only creates a few objects."""

    def __init__(self, kubeconfig: Path, retries: bool = True, timeout: float = 10) -> None:
        self.client, self.timeout = api_client(kubeconfig, retries), timeout

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> dict[str, Any]:  # fmt: skip
        """The answer's JSON; a refusal (HTTP ≥ 300) is a KnlError naming it."""
        import json

        request = self.client.param_serialize(
            method, path, body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": content_type},
        )  # fmt: skip
        response = self.client.call_api(*request, _request_timeout=self.timeout)
        data = response.read()
        try:
            doc = json.loads(data or b"{}")
        except ValueError:
            doc = {"message": data[:300].decode(errors="replace")}
        if response.status >= 300:
            raise KnlError(f"the lab's API server refused {method} {path}: {response.status} "
                           f"{doc.get('reason', '')}: {str(doc.get('message', ''))[:300]}")  # fmt: skip
        return doc


def service_manifest(svc: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": svc.type,
        "clusterIP": svc.cluster_ip,
        "ports": [
            {"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": p.protocol,
             **({"nodePort": p.node_port} if p.node_port else {})}
            for p in svc.ports
        ],
    }  # fmt: skip
    if svc.type != "ClusterIP":
        spec["externalTrafficPolicy"] = svc.external_traffic_policy
    if svc.health_check_node_port:
        spec["healthCheckNodePort"] = svc.health_check_node_port
    if svc.external_ips:
        spec["externalIPs"] = list(svc.external_ips)
    if svc.source_ranges:
        spec["loadBalancerSourceRanges"] = list(svc.source_ranges)
    if svc.affinity_timeout:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc.affinity_timeout}}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc.name, "namespace": svc.namespace}, "spec": spec}  # fmt: skip


def endpoint_slice_manifest(svc: Service) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{svc.name}-knl",
            "namespace": svc.namespace,
            "labels": {
                "kubernetes.io/service-name": svc.name,
                "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": p.name, "port": p.target_port, "protocol": p.protocol} for p in svc.ports],
        "endpoints": [
            {"addresses": [e.ip], "conditions": {"ready": e.ready},
             **({"nodeName": e.node} if e.node else {})}
            for e in svc.endpoints
        ],
    }  # fmt: skip


def create_lab_objects(lab: Lab, kubeconfig: Path) -> int:
    """The spec's Services and their EndpointSlices; the number of objects created."""
    created = 0
    with Api(kubeconfig) as api:
        for namespace in sorted({s.namespace for s in lab.services} - {"default"}):
            api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": namespace}})  # fmt: skip
            created += 1
        for svc in lab.services:
            api.call("POST", f"/api/v1/namespaces/{svc.namespace}/services", service_manifest(svc))
            if svc.load_balancer_ips:  # what a load-balancer controller would write
                ingress = [{"ip": ip} for ip in svc.load_balancer_ips]
                api.call("PATCH", f"/api/v1/namespaces/{svc.namespace}/services/{svc.name}/status",
                         {"status": {"loadBalancer": {"ingress": ingress}}},
                         "application/merge-patch+json")  # fmt: skip
            api.call("POST", f"{SLICES}/namespaces/{svc.namespace}/endpointslices",
                     endpoint_slice_manifest(svc))  # fmt: skip
            created += 2
    return created


SLICES = "/apis/discovery.k8s.io/v1"


def replace_endpoints(kubeconfig: Path, svc: Service) -> int:
    """Service `svc`'s EndpointSlice made to list its endpoints now (as the controller
    would rewrite it); the proxies follow through their watches. Its new resourceVersion."""
    want = endpoint_slice_manifest(svc)
    path = f"{SLICES}/namespaces/{svc.namespace}/endpointslices/{want['metadata']['name']}"
    with Api(kubeconfig) as api:
        current = api.call("GET", path)
        want["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        done = api.call("PUT", path, want)
    return int(done["metadata"]["resourceVersion"])


# virtual-kubelet's pod controller lists and watches Secrets, ConfigMaps and Services
# cluster-wide (to resolve env), where a kubelet's Node authorizer grants it only those its
# pods name; this role grants nodes the informers' verbs (read-only) and nothing else.
VIRTUAL_KUBELET_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "kubenetlab:virtual-kubelet"},
    "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps", "services"],
               "verbs": ["get", "list", "watch"]}],
}  # fmt: skip
VIRTUAL_KUBELET_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "kubenetlab:virtual-kubelet"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "kubenetlab:virtual-kubelet"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                  "name": "system:nodes"}],
}  # fmt: skip


def create_config_map(kubeconfig: Path, manifest: dict[str, Any]) -> None:
    with Api(kubeconfig) as api:
        api.call("POST", f"/api/v1/namespaces/{manifest['metadata']['namespace']}/configmaps",
                 manifest)  # fmt: skip


RBAC = "/apis/rbac.authorization.k8s.io/v1"


def create_nodes(kubeconfig: Path, nodes: list[dict[str, Any]]) -> None:
    """The Nodes as the lab's plan has them, and the kubelets' RBAC, before any kubelet."""
    with Api(kubeconfig) as api:
        api.call("POST", f"{RBAC}/clusterroles", VIRTUAL_KUBELET_ROLE)
        api.call("POST", f"{RBAC}/clusterrolebindings", VIRTUAL_KUBELET_BINDING)
        for node in nodes:
            api.call("POST", "/api/v1/nodes", node)


# Taints the node lifecycle controller puts on a new Node until it has seen it Ready; the
# scheduler (and cluster mode) skip a Node while it has them.
STARTUP_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def ready_nodes(kubeconfig: Path) -> set[str]:
    """Names of the Nodes whose Ready condition is True and that take pods (the lifecycle
    controller's start-up taints gone): what `lab up` waits for, so a lab it returns
    schedules pods at once."""
    from urllib3.exceptions import HTTPError

    try:
        with Api(kubeconfig, retries=False, timeout=3) as api:
            items = api.call("GET", "/api/v1/nodes").get("items") or []
    except (KnlError, HTTPError, OSError) as exc:
        raise KnlError(f"the lab's API server did not list nodes: {exc}") from None

    def ready(node: dict[str, Any]) -> bool:
        conditions = (node.get("status") or {}).get("conditions") or []
        taints = (node.get("spec") or {}).get("taints") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions) and (
            not any(t.get("key") in STARTUP_TAINTS for t in taints))  # fmt: skip

    return {n["metadata"]["name"] for n in items if ready(n)}
