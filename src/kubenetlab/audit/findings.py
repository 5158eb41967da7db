"""Findings and the catalogue of rules they come from (ids are stable; SARIF lists them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")

CILIUM_DOCS = "https://docs.cilium.io/en/stable/"
GATEWAY_SPEC = "https://gateway-api.sigs.k8s.io/reference/spec/"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str  # default; a finding may raise or lower it (e.g. by Cilium version)
    summary: str
    reference: str


RULES = {
    r.id: r
    for r in (
        Rule(
            "KNL-CIL-001",
            "cilium-tunnel-removed",
            "error",
            "`tunnel` was deprecated in Cilium 1.14 and removed in 1.15",
            CILIUM_DOCS + "operations/upgrade/#upgrade-notes",
        ),
        Rule(
            "KNL-CIL-002",
            "cilium-native-routing-cidr",
            "error",
            "native routing needs ipv4NativeRoutingCIDR",
            CILIUM_DOCS + "network/concepts/routing/#native-routing",
        ),
        Rule(
            "KNL-CIL-003",
            "cilium-direct-routes-with-tunnel",
            "error",
            "autoDirectNodeRoutes cannot be combined with tunnelling",
            CILIUM_DOCS + "network/concepts/routing/#native-routing",
        ),
        Rule(
            "KNL-CIL-004",
            "cilium-direct-routes-need-l2",
            "info",
            "autoDirectNodeRoutes needs every node on one L2 segment",
            CILIUM_DOCS + "network/concepts/routing/#native-routing",
        ),
        Rule(
            "KNL-CIL-005",
            "cilium-kpr-legacy-value",
            "warning",
            "kubeProxyReplacement takes true/false from 1.14",
            CILIUM_DOCS + "network/kubernetes/kubeproxy-free/",
        ),
        Rule(
            "KNL-CIL-006",
            "cilium-kpr-api-server",
            "error",
            "kube-proxy replacement needs k8sServiceHost and k8sServicePort",
            CILIUM_DOCS + "network/kubernetes/kubeproxy-free/",
        ),
        Rule(
            "KNL-CIL-007",
            "cilium-dsr-routing",
            "error",
            "loadBalancer.mode=dsr needs native routing (or Geneve dispatch)",
            CILIUM_DOCS + "network/kubernetes/kubeproxy-free/#direct-server-return-dsr",
        ),
        Rule(
            "KNL-CIL-008",
            "cilium-dsr-without-kpr",
            "error",
            "loadBalancer.mode only applies with kube-proxy replacement",
            CILIUM_DOCS + "network/kubernetes/kubeproxy-free/#direct-server-return-dsr",
        ),
        Rule(
            "KNL-CIL-009",
            "cilium-bpf-masquerade",
            "warning",
            "eBPF host routing needs bpf.masquerade=true",
            CILIUM_DOCS + "operations/performance/tuning/#ebpf-host-routing",
        ),
        Rule(
            "KNL-CIL-010",
            "cilium-fixed-mtu",
            "warning",
            "a fixed MTU must leave room for the encapsulation",
            CILIUM_DOCS + "network/concepts/routing/",
        ),
        Rule(
            "KNL-SVC-001",
            "etp-local-replicas",
            "warning",
            "externalTrafficPolicy: Local with fewer replicas than nodes drops traffic",
            "https://kubernetes.io/docs/reference/networking/virtual-ips/#external-traffic-policy",
        ),
        Rule(
            "KNL-SVC-002",
            "etp-local-spread",
            "warning",
            "externalTrafficPolicy: Local without spreading replicas over nodes",
            "https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/",
        ),
        Rule(
            "KNL-SVC-003",
            "etp-local-health-check",
            "info",
            "load balancers must health-check healthCheckNodePort",
            "https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/#preserving-the-client-source-ip",
        ),
        Rule(
            "KNL-SVC-004",
            "etp-cluster-snat",
            "info",
            "externalTrafficPolicy: Cluster hides client IPs (SNAT)",
            "https://kubernetes.io/docs/tutorials/services/source-ip/",
        ),
        Rule(
            "KNL-SVC-005",
            "etp-on-clusterip",
            "error",
            "externalTrafficPolicy applies only to NodePort and LoadBalancer Services",
            "https://kubernetes.io/docs/reference/networking/virtual-ips/#external-traffic-policy",
        ),
        Rule(
            "KNL-ING-001",
            "ingress-to-gateway-api",
            "info",
            "Ingress is frozen; Gateway API HTTPRoute is its successor",
            "https://gateway-api.sigs.k8s.io/guides/migrating-from-ingress/",
        ),
        Rule(
            "KNL-GW-001",
            "httproute-split",
            "info",
            "the traffic split a rule's backendRefs weights give",
            GATEWAY_SPEC + "#httpbackendref",
        ),
        Rule(
            "KNL-GW-002",
            "httproute-all-weights-zero",
            "error",
            "every backendRef of a rule has weight 0",
            GATEWAY_SPEC + "#httpbackendref",
        ),
        Rule(
            "KNL-GW-003",
            "httproute-zero-weight",
            "info",
            "a backendRef with weight 0 gets no traffic",
            GATEWAY_SPEC + "#httpbackendref",
        ),
        Rule(
            "KNL-GW-004",
            "httproute-backend-missing",
            "warning",
            "a backendRef names a Service not found in the inputs",
            GATEWAY_SPEC + "#httpbackendref",
        ),
        Rule(
            "KNL-GW-005",
            "httproute-pathprefix-elements",
            "info",
            "PathPrefix matches whole path elements",
            GATEWAY_SPEC + "#pathmatchtype",
        ),
        Rule(
            "KNL-GW-006",
            "httproute-invalid-path",
            "error",
            "a path match value the API rejects",
            GATEWAY_SPEC + "#httppathmatch",
        ),
        Rule(
            "KNL-GW-007",
            "httproute-weight-range",
            "error",
            "backendRef weight outside 0-1,000,000",
            GATEWAY_SPEC + "#httpbackendref",
        ),
        Rule(
            "KNL-IPT-001",
            "kube-proxy-iptables-scale",
            "warning",
            "kube-proxy iptables rules grow linearly with Services",
            "https://kubernetes.io/blog/2025/02/28/nftables-kube-proxy/",
        ),
        Rule(
            "KNL-IPT-002",
            "iptables-mixed-backends",
            "warning",
            "iptables-legacy and iptables-nft tables are both present",
            "https://kubernetes.io/blog/2022/09/07/iptables-chains-not-api/",
        ),
        Rule(
            "KNL-IPT-003",
            "iptables-summary",
            "info",
            "what an iptables-save dump holds",
            "https://kubernetes.io/docs/reference/networking/virtual-ips/",
        ),
        Rule(
            "KNL-NFT-001",
            "kube-proxy-nftables-summary",
            "info",
            "what kube-proxy's nftables table holds",
            "https://kubernetes.io/blog/2025/02/28/nftables-kube-proxy/",
        ),
    )
}


@dataclass
class Finding:
    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    fix: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return RULES[self.rule].reference

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule,
            "name": RULES[self.rule].name,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "reference": self.reference,
            "details": self.details,
        }


def finding(
    rule: str,
    file: str,
    line: int | None,
    message: str,
    fix: str,
    severity: str | None = None,
    **details: Any,
) -> Finding:
    return Finding(rule, severity or RULES[rule].severity, file, line, message, fix, details)


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)
