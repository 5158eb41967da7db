"""What the lab spec declares, created through the lab's API server with the official
`kubernetes` client (chosen over lightkube because cluster mode needs its pods/exec
streaming, which lightkube does not have).

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
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = api_client(kubeconfig)
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    created = 0
    try:
        for namespace in sorted({s.namespace for s in lab.services} - {"default"}):
            core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": namespace}})  # fmt: skip
            created += 1
        for svc in lab.services:
            core.create_namespaced_service(svc.namespace, service_manifest(svc))
            if svc.load_balancer_ips:  # what a load-balancer controller would write
                ingress = [{"ip": ip} for ip in svc.load_balancer_ips]
                core.patch_namespaced_service_status(
                    svc.name, svc.namespace, {"status": {"loadBalancer": {"ingress": ingress}}}
                )
            discovery.create_namespaced_endpoint_slice(svc.namespace, endpoint_slice_manifest(svc))
            created += 2
    except ApiException as exc:
        raise KnlError(f"the lab's API server refused an object: {exc.status} {exc.reason}: "
                       f"{(exc.body or '')[:300]}") from None  # fmt: skip
    finally:
        api.close()
    return created


def replace_endpoints(kubeconfig: Path, svc: Service) -> int:
    """Service `svc`'s EndpointSlice made to list its endpoints now (as the controller
    would rewrite it); the proxies follow through their watches. Its new resourceVersion."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = api_client(kubeconfig)
    want = endpoint_slice_manifest(svc)
    try:
        discovery = client.DiscoveryV1Api(api)
        current = discovery.read_namespaced_endpoint_slice(want["metadata"]["name"], svc.namespace)
        want["metadata"]["resourceVersion"] = current.metadata.resource_version
        done = discovery.replace_namespaced_endpoint_slice(
            want["metadata"]["name"], svc.namespace, want
        )
        return int(done.metadata.resource_version)
    except ApiException as exc:
        raise KnlError(f"the lab's API server refused an object: {exc.status} {exc.reason}: "
                       f"{(exc.body or '')[:300]}") from None  # fmt: skip
    finally:
        api.close()


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
    from kubernetes import client

    api = api_client(kubeconfig)
    try:
        namespace = manifest["metadata"]["namespace"]
        client.CoreV1Api(api).create_namespaced_config_map(namespace, manifest)
    finally:
        api.close()


def create_nodes(kubeconfig: Path, nodes: list[dict[str, Any]]) -> None:
    """The Nodes as the lab's plan has them, and the kubelets' RBAC, before any kubelet."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = api_client(kubeconfig)
    try:
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_cluster_role(VIRTUAL_KUBELET_ROLE)
        rbac.create_cluster_role_binding(VIRTUAL_KUBELET_BINDING)
        core = client.CoreV1Api(api)
        for node in nodes:
            core.create_node(node)
    except ApiException as exc:
        raise KnlError(f"the lab's API server refused an object: {exc.status} {exc.reason}: "
                       f"{(exc.body or '')[:300]}") from None  # fmt: skip
    finally:
        api.close()


def ready_nodes(kubeconfig: Path) -> set[str]:
    """Names of the Nodes whose Ready condition is True."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    api = api_client(kubeconfig, retries=False)
    try:
        items = client.CoreV1Api(api).list_node(_request_timeout=3).items
    except (ApiException, HTTPError) as exc:
        raise KnlError(f"the lab's API server did not list nodes: {exc}") from None
    finally:
        api.close()
    return {
        n.metadata.name
        for n in items
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    }
