"""Service rules: externalTrafficPolicy semantics as kube-proxy implements them, and Ingress."""

from __future__ import annotations

from kubenetlab.audit.findings import Finding, Rule, register
from kubenetlab.kube.objects import HOSTNAME_LABEL, KubeObject, V1Service, Workload

ETP_LOCAL_REPLICAS = register(
    Rule(
        "KNL-SVC-001",
        "etp-local-replicas",
        "warning",
        "externalTrafficPolicy: Local with fewer replicas than nodes drops traffic",
        "https://kubernetes.io/docs/reference/networking/virtual-ips/#external-traffic-policy",
    )
)

ETP_LOCAL_SPREAD = register(
    Rule(
        "KNL-SVC-002",
        "etp-local-spread",
        "warning",
        "externalTrafficPolicy: Local without spreading replicas over nodes",
        "https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/",
    )
)

ETP_LOCAL_HEALTH_CHECK = register(
    Rule(
        "KNL-SVC-003",
        "etp-local-health-check",
        "info",
        "load balancers must health-check healthCheckNodePort",
        "https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/#preserving-the-client-source-ip",
    )
)

ETP_CLUSTER_SNAT = register(
    Rule(
        "KNL-SVC-004",
        "etp-cluster-snat",
        "info",
        "externalTrafficPolicy: Cluster hides client IPs (SNAT)",
        "https://kubernetes.io/docs/tutorials/services/source-ip/",
    )
)

ETP_ON_CLUSTERIP = register(
    Rule(
        "KNL-SVC-005",
        "etp-on-clusterip",
        "error",
        "externalTrafficPolicy applies only to NodePort and LoadBalancer Services",
        "https://kubernetes.io/docs/reference/networking/virtual-ips/#external-traffic-policy",
    )
)

INGRESS_TO_GATEWAY_API = register(
    Rule(
        "KNL-ING-001",
        "ingress-to-gateway-api",
        "info",
        "Ingress is frozen; Gateway API HTTPRoute is its successor",
        "https://gateway-api.sigs.k8s.io/guides/migrating-from-ingress/",
    )
)


def check(objects: list[KubeObject], nodes: int | None) -> list[Finding]:
    out: list[Finding] = []
    workloads = [o for o in objects if isinstance(o, Workload)]
    if nodes is None:
        node_objects = sum(1 for o in objects if o.kind == "Node")
        nodes = node_objects or None
    for svc in (o for o in objects if isinstance(o, V1Service)):
        out += _check_service(svc, workloads, nodes)
    for ing in (o for o in objects if o.kind == "Ingress"):
        out.append(
            INGRESS_TO_GATEWAY_API.finding(
                ing.file,
                ing.line(),
                f"{ing.ref}: the Ingress API is frozen; weighted splits, header matches and "
                "cross-namespace routing need annotations specific to one controller",
                "express it as a Gateway API HTTPRoute (ingress2gateway converts common cases)",
            )
        )
    return out


def _check_service(svc: V1Service, workloads: list[Workload], nodes: int | None) -> list[Finding]:
    out: list[Finding] = []
    kind, etp, external = svc.type, svc.external_traffic_policy, svc.external
    line = svc.line("spec", "externalTrafficPolicy")
    if etp and not external:
        out.append(
            ETP_ON_CLUSTERIP.finding(
                svc.file,
                line,
                f"{svc.ref}: externalTrafficPolicy={etp} on a {kind} Service: the API server rejects it",
                "remove externalTrafficPolicy, or make the Service NodePort/LoadBalancer",
            )
        )
        return out
    if not external:
        return out
    if etp == "Local":
        hc = svc.health_check_node_port
        out.append(
            ETP_LOCAL_HEALTH_CHECK.finding(
                svc.file,
                line,
                f"{svc.ref}: with externalTrafficPolicy: Local a node without a ready local endpoint "
                "drops the traffic it receives; kube-proxy answers on healthCheckNodePort "
                f"{hc if hc else '(allocated by Kubernetes, see spec.healthCheckNodePort)'} with 200 "
                "when the node has local endpoints and 503 when it has none",
                "point the external load balancer's health check at that port (HTTP, any path)",
                healthCheckNodePort=hc,
            )
        )
        out += _placement(svc, workloads, nodes)
    else:
        out.append(
            ETP_CLUSTER_SNAT.finding(
                svc.file,
                line if etp else svc.line("spec", "type"),
                f"{svc.ref}: externalTrafficPolicy: Cluster (the default) SNATs traffic arriving at a "
                "node to that node's IP, so backends never see the client's address (audit logs, "
                "rate limits and geo rules see the node)",
                "use externalTrafficPolicy: Local with replicas spread over the nodes the load "
                "balancer targets, or PROXY protocol at the load balancer",
            )
        )
    return out


def _placement(svc: V1Service, workloads: list[Workload], nodes: int | None) -> list[Finding]:
    matches = [w for w in workloads if w.namespace == svc.namespace and w.selects(svc.selector)]
    out: list[Finding] = []
    line = svc.line("spec", "externalTrafficPolicy")
    for w in matches:
        if w.kind == "DaemonSet":
            continue
        replicas = w.replicas
        if nodes is not None and isinstance(replicas, int) and replicas < nodes:
            out.append(
                ETP_LOCAL_REPLICAS.finding(
                    svc.file,
                    line,
                    f"{svc.ref}: externalTrafficPolicy: Local, but {w.ref} runs {replicas} replicas on "
                    f"{nodes} nodes: at least {nodes - replicas} nodes have no local endpoint and drop "
                    'what the load balancer sends them (kube-proxy: "has no local endpoints" DROP)',
                    f"run at least {nodes} replicas spread over the nodes (or a DaemonSet), or make "
                    "sure the load balancer health-checks healthCheckNodePort",
                    workload=w.ref,
                    replicas=replicas,
                    nodes=nodes,
                )
            )
        if not w.spread_by_hostname:
            out.append(
                ETP_LOCAL_SPREAD.finding(
                    w.file,
                    w.line("spec"),
                    f"{w.ref} backs {svc.ref} (externalTrafficPolicy: Local) without a "
                    f"topologySpreadConstraint or podAntiAffinity on {HOSTNAME_LABEL}: replicas may share a "
                    "node, leaving other nodes without a local endpoint",
                    f"add topologySpreadConstraints with topologyKey {HOSTNAME_LABEL} (maxSkew 1)",
                    service=svc.ref,
                )
            )
    return out
