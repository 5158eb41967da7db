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


def api_client(kubeconfig: Path) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


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
            discovery.create_namespaced_endpoint_slice(svc.namespace, endpoint_slice_manifest(svc))
            created += 2
    except ApiException as exc:
        raise KnlError(f"the lab's API server refused an object: {exc.status} {exc.reason}: "
                       f"{(exc.body or '')[:300]}") from None  # fmt: skip
    finally:
        api.close()
    return created
