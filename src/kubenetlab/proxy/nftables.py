"""kube-proxy nftables mode, rendered as `nft -f` scripts (pure): full and incremental.

Structure follows kube-proxy (pkg/proxy/nftables/proxier.go and its tests): table
`ip kube-proxy`; dispatch `ip daddr . meta l4proto . th dport vmap @service-ips` and
`ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`; per Service a
`service-<hash>-ns/name/proto/port` chain (masquerade from outside the cluster CIDR,
then `numgen random mod N vmap { i : goto endpoint-… }`), `external-…` for NodePorts
(Local: short-circuit pod and local traffic, the rest to `local-…`), `endpoint-…`
chains (hairpin masquerade, dnat); no-endpoint maps reject (or drop, for Local
NodePorts without local endpoints); masquerading by mark 0x4000, `fully-random`.

A rule set is a `RuleSet` of chains and map/set elements, so an update is the diff of
two: only chains whose rules changed are flushed and refilled, only changed elements
are added or deleted — O(changed objects), as kube-proxy does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kubenetlab.proxy.categorize import PortOnNode, categorize
from kubenetlab.proxy.chains import nft_chain, nft_endpoint_chain
from kubenetlab.services import Endpoint, Service

T = "ip kube-proxy"
BASE_CHAINS = {  # chain → its declaration suffix
    "cluster-ips-check": "",
    "filter-forward": " { type filter hook forward priority 0 ; }",
    "filter-input": " { type filter hook input priority 0 ; }",
    "filter-output": " { type filter hook output priority 0 ; }",
    "mark-for-masquerade": "",
    "masquerading": "",
    "nat-output": " { type nat hook output priority -100 ; }",
    "nat-postrouting": " { type nat hook postrouting priority 100 ; }",
    "nat-prerouting": " { type nat hook prerouting priority -100 ; }",
    "nodeport-endpoints-check": "",
    "reject-chain": ' { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
    "services": "",
    "service-endpoints-check": "",
}
SETS = [
    'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
    'add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }',
    "add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; "
    'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }',
    "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; "
    'comment "vmap to drop or reject packets to services with no endpoints" ; }',
    "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; "
    'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; "
    'comment "NodePort traffic" ; }',
]


@dataclass(frozen=True)
class Element:
    map: str
    key: str
    value: str | None = None  # None for sets
    comment: str | None = None

    def add(self) -> str:
        comment = f' comment "{self.comment}"' if self.comment else ""
        value = f" : {self.value}" if self.value else ""
        return f"add element {T} {self.map} {{ {self.key}{comment}{value} }}"

    def delete(self) -> str:
        return f"delete element {T} {self.map} {{ {self.key} }}"


@dataclass
class RuleSet:
    chains: dict[str, list[str]] = field(default_factory=dict)  # per-Service chains → rule bodies
    elements: set[Element] = field(default_factory=set)


def _base_rules(cluster_cidr: str, service_cidr: str) -> list[tuple[str, str]]:
    return [
        (
            "cluster-ips-check",
            'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
        ),
        (
            "cluster-ips-check",
            f'ip daddr {{ {service_cidr} }} drop comment "Drop traffic to unallocated ClusterIPs"',
        ),
        ("filter-forward", "ct state new jump service-endpoints-check"),
        ("filter-forward", "ct state new jump cluster-ips-check"),
        ("filter-input", "ct state new jump nodeport-endpoints-check"),
        ("filter-input", "ct state new jump service-endpoints-check"),
        ("filter-output", "ct state new jump service-endpoints-check"),
        ("filter-output", "ct state new jump cluster-ips-check"),
        ("mark-for-masquerade", "mark set mark or 0x4000"),
        ("masquerading", "mark and 0x4000 == 0 return"),
        ("masquerading", "mark set mark xor 0x4000"),
        ("masquerading", "masquerade fully-random"),
        ("nat-output", "jump services"),
        ("nat-postrouting", "jump masquerading"),
        ("nat-prerouting", "jump services"),
        (
            "nodeport-endpoints-check",
            "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports",
        ),
        ("reject-chain", "reject"),
        ("services", "ip daddr . meta l4proto . th dport vmap @service-ips"),
        ("services", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"),
        (
            "service-endpoints-check",
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        ),
    ]


def _dispatch(chains: dict[str, list[str]], p: PortOnNode, endpoints: Sequence[Endpoint]) -> str:
    """endpoint-… chains (hairpin masquerade, dnat) and the `numgen` vmap that picks one."""
    svc, proto, target_port = p.service, p.protocol, p.port.target_port
    targets = []
    for ep in endpoints:
        chain = nft_endpoint_chain(svc.namespace, svc.name, p.port.name, proto, ep.ip, target_port)
        chains[chain] = [
            f"ip saddr {ep.ip} jump mark-for-masquerade",
            f"meta l4proto {proto} dnat to {ep.ip}:{target_port}",
        ]
        targets.append(chain)
    vmap = " , ".join(f"{i} : goto {c}" for i, c in enumerate(targets))
    return f"numgen random mod {len(targets)} vmap {{ {vmap} }}"


def rule_set(
    services: Sequence[Service], node: str, node_ips: Sequence[str], cluster_cidr: str
) -> RuleSet:
    """The desired state for one node (what `render_full` writes and `render_delta` diffs)."""
    rs = RuleSet()
    rs.elements |= {Element("nodeport-ips", ip) for ip in node_ips}
    for port in categorize(services, node):
        _service_port(rs, port, cluster_cidr)
    return rs


def _chain(kind: str, p: PortOnNode) -> str:
    return nft_chain(kind, p.service.namespace, p.service.name, p.port.name, p.protocol)


def _service_port(rs: RuleSet, p: PortOnNode, cluster_cidr: str) -> None:
    svc, proto, node_port = p.service, p.protocol, p.port.node_port
    key = f"{svc.cluster_ip} . {proto} . {p.port.port}"
    rs.elements.add(Element("cluster-ips", svc.cluster_ip))
    if not p.has_endpoints:
        rs.elements.add(Element("no-endpoint-services", key, "goto reject-chain", p.name))
        if node_port:
            nodeport_key = f"{proto} . {node_port}"
            rs.elements.add(
                Element("no-endpoint-nodeports", nodeport_key, "goto reject-chain", p.name)
            )
        return
    chain = _chain("service", p)
    rs.chains[chain] = [
        f"ip daddr {svc.cluster_ip} ip saddr != {cluster_cidr} jump mark-for-masquerade",
        _dispatch(rs.chains, p, p.cluster_endpoints),
    ]
    rs.elements.add(Element("service-ips", key, f"goto {chain}"))
    if node_port:
        _external(rs, p, chain, cluster_cidr)


def _external(rs: RuleSet, p: PortOnNode, chain: str, cluster_cidr: str) -> None:
    """external-… for a NodePort: masquerade (Cluster), or Local's short-circuits + local-…"""
    ext = _chain("external", p)
    nodeport_key = f"{p.protocol} . {p.port.node_port}"
    rs.elements.add(Element("service-nodeports", nodeport_key, f"goto {ext}"))
    if not p.service.local:
        rs.chains[ext] = ["jump mark-for-masquerade", f"goto {chain}"]
        return
    rules = [
        f'ip saddr {cluster_cidr} goto {chain} comment "short-circuit pod traffic"',
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        f'fib saddr type local goto {chain} comment "short-circuit local traffic"',
    ]
    if p.local_endpoints:
        local_chain = _chain("local", p)
        rs.chains[local_chain] = [_dispatch(rs.chains, p, p.local_endpoints)]
        rules.append(f"goto {local_chain}")
    else:
        rs.elements.add(Element("no-endpoint-nodeports", nodeport_key, "drop", p.name))
    rs.chains[ext] = rules


def render_full(rs: RuleSet, cluster_cidr: str, service_cidr: str) -> str:
    """The whole table, replacing any previous one in a single transaction."""
    lines = [
        f'add table {T} {{ comment "rules for kube-proxy" ; }}',
        f"delete table {T}",
        f'add table {T} {{ comment "rules for kube-proxy" ; }}',
        *SETS,
    ]
    lines += [f"add chain {T} {name}{decl}" for name, decl in BASE_CHAINS.items()]
    lines += [
        f"add rule {T} {chain} {rule}" for chain, rule in _base_rules(cluster_cidr, service_cidr)
    ]
    lines += [f"add chain {T} {name}" for name in rs.chains]
    lines += [f"add rule {T} {name} {rule}" for name, rules in rs.chains.items() for rule in rules]
    lines += [e.add() for e in sorted(rs.elements, key=_element_order)]
    return "\n".join(lines) + "\n"


def render_delta(old: RuleSet, new: RuleSet) -> str:
    """Only what changed: new chains, refilled chains, element changes, then dropped chains."""
    lines = [f"add chain {T} {name}" for name in new.chains if name not in old.chains]
    for name, rules in new.chains.items():
        if old.chains.get(name) != rules:
            if name in old.chains:
                lines.append(f"flush chain {T} {name}")
            lines += [f"add rule {T} {name} {rule}" for rule in rules]
    lines += [e.delete() for e in sorted(old.elements - new.elements, key=_element_order)]
    lines += [e.add() for e in sorted(new.elements - old.elements, key=_element_order)]
    lines += [f"delete chain {T} {name}" for name in old.chains if name not in new.chains]
    return "\n".join(lines) + ("\n" if lines else "")


def objects_in(script: str) -> int:
    """Objects a delta script touches: chains added, refilled or deleted, elements changed."""
    return sum(1 for line in script.splitlines() if not line.startswith("add rule "))


def _element_order(e: Element) -> tuple[str, str]:
    return e.map, e.key
