"""kube-proxy nftables mode (v1.36), rendered as `nft -f` scripts (pure): full and
incremental.

Structure follows kube-proxy (pkg/proxy/nftables/proxier.go and its tests): table
`ip kube-proxy`; dispatch `ip daddr . meta l4proto . th dport vmap @service-ips` and
`ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`, after one rule
that marks ClusterIP traffic from outside the cluster CIDR for masquerade. Per Service a
`service-<hash>-ns/name/proto/port` chain (ClusterIP traffic; or `local-…` with
internalTrafficPolicy Local) that DNATs straight to `numgen random mod N map { i : ip .
port }`; `external-…` for NodePorts, external and LoadBalancer IPs (Cluster: mark and go
to `service-…`; Local: short-circuit pod and node traffic, the rest to `local-…`);
no-endpoint maps reject (drop without a local endpoint). Hairpin traffic (a pod reaching
itself through its Service) is masqueraded by the `hairpin-connections` set of this
node's endpoints, with `ct status dnat`. loadBalancerSourceRanges become a
`firewall-ips` element → `firewall-…` chain (`ip saddr != { ranges } drop`, checked
before DNAT); ClientIP affinity is one `affinity-…` set per endpoint (dynamic, with the
timeout) that the service chain checks first and an `endpoint-…` chain updates.
(Expected text: TestOverallNFTablesRules of v1.36.3.)

A rule set is a `RuleSet` of chains and map/set elements, so an update is the diff of
two: only chains whose rules changed are flushed and refilled, only changed elements
are added or deleted — O(changed objects), as kube-proxy does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from kubenetlab.proxy.categorize import PortOnNode, categorize
from kubenetlab.proxy.chains import nft_chain, nft_endpoint_chain
from kubenetlab.services import Endpoint, Service

T = "ip kube-proxy"
MARK = "0x4000"
MASQUERADE = f"mark set mark or {MARK}"  # kube-proxy's masqueradeRule
BASE_CHAINS = {  # chain → its declaration suffix
    "cluster-ips-check": "",
    "filter-prerouting-pre-dnat": " { type filter hook prerouting priority -110 ; }",
    "filter-output-pre-dnat": " { type filter hook output priority -110 ; }",
    "filter-forward": " { type filter hook forward priority 0 ; }",
    "filter-input": " { type filter hook input priority 0 ; }",
    "filter-output": " { type filter hook output priority 0 ; }",
    "firewall-check": "",
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
    "add set ip kube-proxy hairpin-connections { type ipv4_addr . ipv4_addr . inet_proto . "
    'inet_service ; comment "service hairpin connections" ; }',
    "add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; "
    'comment "destinations that are subject to LoadBalancerSourceRanges" ; }',
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
    sets: dict[str, str] = field(default_factory=dict)  # affinity sets → their declaration


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
        ("filter-prerouting-pre-dnat", "ct state new jump firewall-check"),
        ("filter-forward", "ct state new jump service-endpoints-check"),
        ("filter-forward", "ct state new jump cluster-ips-check"),
        ("filter-input", "ct state new jump nodeport-endpoints-check"),
        ("filter-input", "ct state new jump service-endpoints-check"),
        ("filter-output", "ct state new jump service-endpoints-check"),
        ("filter-output-pre-dnat", "ct state new jump firewall-check"),
        ("filter-output", "ct state new jump cluster-ips-check"),
        ("firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips"),
        ("masquerading", f"mark and {MARK} != 0 mark set mark xor {MARK} masquerade fully-random"),
        (
            "masquerading",
            "ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections "
            "masquerade fully-random",
        ),
        ("nat-output", "jump services"),
        ("nat-postrouting", "jump masquerading"),
        ("nat-prerouting", "jump services"),
        (
            "nodeport-endpoints-check",
            "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports",
        ),
        ("reject-chain", "reject"),
        (
            "services",
            f"ip daddr @cluster-ips ip saddr != {cluster_cidr} {MASQUERADE} "
            'comment "masquerade clusterIP traffic from outside cluster"',
        ),
        ("services", "ip daddr . meta l4proto . th dport vmap @service-ips"),
        ("services", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"),
        (
            "service-endpoints-check",
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        ),
    ]


def _dispatch(rs: RuleSet, p: PortOnNode, endpoints: Sequence[Endpoint]) -> list[str]:
    """The rules that pick an endpoint: without affinity one DNAT through a `numgen` map;
    with ClientIP affinity, the affinity checks, then a `numgen` vmap to endpoint-… chains
    that record the client and DNAT."""
    svc, proto, target_port = p.service, p.protocol, p.port.target_port
    if svc.affinity_timeout is None:
        pairs = " , ".join(f"{i} : {ep.ip} . {target_port}" for i, ep in enumerate(endpoints))
        return [f"meta l4proto {proto} dnat ip addr . port to numgen random mod {len(endpoints)} map {{ {pairs} }}"]
    targets, sticky = [], []
    for ep in endpoints:
        chain = nft_endpoint_chain(svc.namespace, svc.name, p.port.name, proto, ep.ip, target_port)
        affinity = "affinity-" + chain.removeprefix("endpoint-")
        rs.sets[affinity] = (
            f"{{ type ipv4_addr ; flags dynamic,timeout ; timeout {svc.affinity_timeout}s ; }}"
        )
        rs.chains[chain] = [
            f"update @{affinity} {{ ip saddr }}",
            f"meta l4proto {proto} dnat to {ep.ip}:{target_port}",
        ]
        sticky.append(f"ip saddr @{affinity} goto {chain}")
        targets.append(chain)
    vmap = " , ".join(f"{i} : goto {c}" for i, c in enumerate(targets))
    return [*sticky, f"numgen random mod {len(targets)} vmap {{ {vmap} }}"]


def rule_set(
    services: Sequence[Service], node: str, node_ips: Sequence[str], cluster_cidr: str
) -> RuleSet:
    """The desired state for one node (what `render_full` writes and `render_delta` diffs)."""
    rs = RuleSet()
    rs.elements |= {Element("nodeport-ips", ip) for ip in node_ips}
    node_ip = node_ips[0] if node_ips else None
    for port in categorize(services, node):
        _service_port(rs, port, cluster_cidr, node_ip)
    return rs


def _chain(kind: str, p: PortOnNode) -> str:
    return nft_chain(kind, p.service.namespace, p.service.name, p.port.name, p.protocol)


def _service_port(rs: RuleSet, p: PortOnNode, cluster_cidr: str, node_ip: str | None) -> None:
    """One Service port: ClusterIP traffic to the Cluster-policy service-… chain (or, with
    internalTrafficPolicy Local, the local-… chain), external traffic through external-…;
    a no-endpoint verdict (reject, or drop without a local endpoint) where it has none."""
    svc, proto = p.service, p.protocol
    key = f"{svc.cluster_ip} . {proto} . {p.port.port}"
    rs.elements.add(Element("cluster-ips", svc.cluster_ip))
    cluster_chain, local_chain = _chain("service", p), _chain("local", p)
    if p.cluster_endpoints and p.uses_cluster_endpoints:
        rs.chains[cluster_chain] = _dispatch(rs, p, p.cluster_endpoints)
    if p.local_endpoints and p.uses_local_endpoints:
        rs.chains[local_chain] = _dispatch(rs, p, p.local_endpoints)
    internal_chain = local_chain if p.internal_local else cluster_chain
    internal_verdict = "goto reject-chain" if not p.has_endpoints else "drop"
    for ep in p.reachable_endpoints:  # a pod reaching itself through this Service
        if ep.node == p.node:
            hairpin = f"{ep.ip} . {ep.ip} . {proto} . {p.port.target_port}"
            rs.elements.add(Element("hairpin-connections", hairpin))
    if p.has_internal_endpoints:
        rs.elements.add(Element("service-ips", key, f"goto {internal_chain}"))
    else:
        rs.elements.add(Element("no-endpoint-services", key, internal_verdict, p.name))
    if p.externally_accessible:
        _external(rs, p, cluster_chain, local_chain, cluster_cidr, node_ip)


def _no_external_endpoints(rs: RuleSet, p: PortOnNode, verdict: str) -> None:
    """Drop (Local without a local endpoint) or reject (none at all) external traffic."""
    for ip in p.service.external_addresses:
        key = f"{ip} . {p.protocol} . {p.port.port}"
        rs.elements.add(Element("no-endpoint-services", key, verdict, p.name))
    if p.port.node_port:
        key = f"{p.protocol} . {p.port.node_port}"
        rs.elements.add(Element("no-endpoint-nodeports", key, verdict, p.name))


def _external_entries(rs: RuleSet, p: PortOnNode, ext: str, node_ip: str | None) -> None:
    """service-ips for external and LB IPs, service-nodeports, and the firewall (source
    ranges; when one holds the node's own IP, the LB IPs too, as kube-proxy allows)."""
    svc, proto, port = p.service, p.protocol, p.port.port
    for ip in svc.external_addresses:
        rs.elements.add(Element("service-ips", f"{ip} . {proto} . {port}", f"goto {ext}"))
    if p.port.node_port:
        rs.elements.add(
            Element("service-nodeports", f"{proto} . {p.port.node_port}", f"goto {ext}")
        )
    if svc.load_balancer_ips and svc.source_ranges:
        fw = _chain("firewall", p)
        sources = list(svc.source_ranges)
        if node_ip and any(
            IPv4Address(node_ip) in IPv4Network(r, strict=False) for r in svc.source_ranges
        ):
            sources += svc.load_balancer_ips
        rs.chains[fw] = [f"ip saddr != {{ {', '.join(sources)} }} drop"]
        for ip in svc.load_balancer_ips:
            rs.elements.add(Element("firewall-ips", f"{ip} . {proto} . {port}", f"goto {fw}"))


def _external(
    rs: RuleSet,
    p: PortOnNode,
    cluster_chain: str,
    local_chain: str,
    cluster_cidr: str,
    node_ip: str | None,
) -> None:
    """external-…: masquerade (Cluster), or Local's short-circuits before local-…"""
    if not p.has_endpoints:
        _no_external_endpoints(rs, p, "goto reject-chain")
        return
    ext = _chain("external", p)
    _external_entries(rs, p, ext, node_ip)
    if not p.external_local:
        rules = [f'{MASQUERADE} comment "masquerade"']
    else:
        rules = [
            f'ip saddr {cluster_cidr} goto {cluster_chain} comment "short-circuit pod traffic"',
            f'fib saddr type local {MASQUERADE} comment "masquerade local traffic"',
            f'fib saddr type local goto {cluster_chain} comment "short-circuit local traffic"',
        ]
    if p.has_external_endpoints:
        rules.append(f"goto {local_chain if p.external_local else cluster_chain}")
    else:
        _no_external_endpoints(rs, p, "drop")
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
    lines += [f"add set {T} {name} {decl}" for name, decl in rs.sets.items()]
    lines += [f"add chain {T} {name}" for name in rs.chains]
    lines += [f"add rule {T} {name} {rule}" for name, rules in rs.chains.items() for rule in rules]
    lines += [e.add() for e in sorted(rs.elements, key=_element_order)]
    return "\n".join(lines) + "\n"


def render_delta(old: RuleSet, new: RuleSet) -> str:
    """Only what changed: new sets and chains, refilled chains, element changes, then
    dropped chains and the sets only they used."""
    lines = [f"add set {T} {n} {d}" for n, d in new.sets.items() if old.sets.get(n) != d]
    lines += [f"add chain {T} {name}" for name in new.chains if name not in old.chains]
    for name, rules in new.chains.items():
        if old.chains.get(name) != rules:
            if name in old.chains:
                lines.append(f"flush chain {T} {name}")
            lines += [f"add rule {T} {name} {rule}" for rule in rules]
    lines += [e.delete() for e in sorted(old.elements - new.elements, key=_element_order)]
    lines += [e.add() for e in sorted(new.elements - old.elements, key=_element_order)]
    lines += [f"delete chain {T} {name}" for name in old.chains if name not in new.chains]
    lines += [f"delete set {T} {name}" for name in old.sets if name not in new.sets]
    return "\n".join(lines) + ("\n" if lines else "")


def objects_in(script: str) -> int:
    """Objects a delta script touches: chains added, refilled or deleted, elements changed."""
    return sum(1 for line in script.splitlines() if not line.startswith("add rule "))


def _element_order(e: Element) -> tuple[str, str]:
    return e.map, e.key
