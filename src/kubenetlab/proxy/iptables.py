"""kube-proxy iptables mode, rendered as one iptables-restore input per node (pure).

Structure and wording follow kube-proxy (pkg/proxy/iptables/proxier.go; the expected
output in proxier_test.go): nat KUBE-SERVICES → KUBE-SVC-<hash> (masquerade anything
from outside the cluster CIDR, then one `-m statistic --mode random --probability
1/(n−i)` rule per endpoint, the last without) → KUBE-SEP-<hash> (hairpin masquerade,
DNAT); NodePorts via KUBE-NODEPORTS → KUBE-EXT-<hash>, which masquerades (Cluster) or,
for Local, short-circuits pod and local traffic to KUBE-SVC and sends the rest to
KUBE-SVL-<hash> (local endpoints only); KUBE-MARK-MASQ sets 0x4000 and KUBE-POSTROUTING
masquerades marked packets with --random-fully. filter: REJECT for Services without
endpoints, DROP "has no local endpoints" for Local NodePorts, KUBE-FORWARD accepts
marked and established traffic, KUBE-NODEPORTS accepts health-check node ports.
External IPs and LoadBalancer ingress IPs jump from KUBE-SERVICES to the same KUBE-EXT
chain as node ports; with loadBalancerSourceRanges, LB traffic goes through KUBE-FW-<hash>
(each range → KUBE-EXT) and the filter KUBE-PROXY-FIREWALL drops the rest. ClientIP
session affinity puts `-m recent --rcheck --seconds N --reap` rules before the random
ones and `-m recent --set` in each KUBE-SEP. (proxier.go syncProxyRules: "Capture
externalIPs", "Capture load-balancer ingress", writeServiceToEndpointRules; expected
text: proxier_test.go TestOverallIPTablesRules.)
MASQUERADE keeps --random-fully, as kube-proxy writes it when iptables ≥ 1.6.2 has it
(every iptables a lab node runs has).
Localhost NodePorts (kube-proxy's default `localhostNodePorts: true`, IPv4): each node
port also answers on 127.0.0.0/8 (`-d 127.0.0.0/8` rules before the others, with
route_localnet on), and filter KUBE-FIREWALL drops "incoming localnet connections" that
were not DNATed. Where the kernel has nfacct, kube-proxy counts those accepted
(localhost_nps_accepted_pkts) and the INVALID drops (ct_state_invalid_dropped_pkts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from kubenetlab.proxy.categorize import PortOnNode, categorize
from kubenetlab.proxy.chains import iptables_chain, iptables_endpoint_chain, probability
from kubenetlab.services import Endpoint, Service

MASQ_MARK = "0x4000"
NODEPORTS_LAST = (
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: '
    'this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
)


def _q(text: str) -> str:
    return f'"{text}"' if " " in text else text


LOCALNET = "127.0.0.0/8"
NFACCT_LOCALHOST = "localhost_nps_accepted_pkts"
NFACCT_INVALID = "ct_state_invalid_dropped_pkts"


@dataclass
class IptablesTables:
    """A node's desired kube-proxy state in iptables mode: chains and rules per table."""

    chains: dict[str, list[str]] = field(default_factory=lambda: {"filter": [], "nat": []})
    rules: dict[str, list[str]] = field(default_factory=lambda: {"filter": [], "nat": []})
    nfacct: bool = True  # count with nfacct (the node must hold the counters first)
    localhost_nodeports: bool = True

    _declared: dict[str, set[str]] = field(default_factory=dict, repr=False, compare=False)

    def chain(self, table: str, name: str) -> str:
        """Declare `name` once, in order (a set beside the list: a scan was quadratic)."""
        declared = self._declared.get(table)
        if declared is None:
            declared = self._declared[table] = set(self.chains[table])
        if name not in declared:
            declared.add(name)
            self.chains[table].append(name)
        return name

    def add(self, table: str, rule: str) -> None:
        self.rules[table].append(rule)

    def by_chain(self) -> dict[tuple[str, str], list[str]]:
        """(table, chain) → its rules: what a sync compares."""
        out: dict[tuple[str, str], list[str]] = {}
        for table, rules in self.rules.items():
            for chain in self.chains[table]:
                out[(table, chain)] = []
            for rule in rules:
                out.setdefault((table, rule.split()[1]), []).append(rule)
        return out

    def restore_text(self) -> str:
        """iptables-restore input: both tables, replaced whole."""
        out: list[str] = []
        for table, builtins in (
            ("filter", ("INPUT", "FORWARD", "OUTPUT")),
            ("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
        ):
            out.append(f"*{table}")
            out += [f":{b} ACCEPT [0:0]" for b in builtins]
            out += [f":{c} - [0:0]" for c in self.chains[table]]
            out += self.rules[table]
            out.append("COMMIT")
        return "\n".join(out) + "\n"


BASE_FILTER_RULES = (
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
)
BASE_NAT_RULES = (
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
    f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
    f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
)
LOCALNET_DROP = (
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" '
    f"-d {LOCALNET} ! -s {LOCALNET} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
)
FORWARD_TAIL = (
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
)


def tables(
    ports: Sequence[PortOnNode],
    cluster_cidr: str,
    nfacct: bool = True,
    localhost_nodeports: bool = True,
    node_ip: str | None = None,
) -> IptablesTables:
    """The desired state for one node, from its categorised Service ports."""
    t = IptablesTables(nfacct=nfacct, localhost_nodeports=localhost_nodeports)
    for name in (
        "KUBE-EXTERNAL-SERVICES",
        *(("KUBE-FIREWALL",) if localhost_nodeports else ()),
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-SERVICES",
    ):
        t.chain("filter", name)
    for name in ("KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"):
        t.chain("nat", name)
    if localhost_nodeports:  # kube-proxy's kubelet-firewall jumps
        t.rules["filter"] += ["-A INPUT -j KUBE-FIREWALL", "-A OUTPUT -j KUBE-FIREWALL"]
    t.rules["filter"] += BASE_FILTER_RULES
    t.rules["nat"] += BASE_NAT_RULES
    for port in ports:
        _port(t, port, cluster_cidr, node_ip)
    t.add("nat", NODEPORTS_LAST)
    if localhost_nodeports:
        t.add("filter", LOCALNET_DROP)
    invalid = f" -m nfacct --nfacct-name {NFACCT_INVALID}" if nfacct else ""
    t.rules["filter"] += [
        FORWARD_TAIL[0].replace(" -j DROP", f"{invalid} -j DROP"),
        *FORWARD_TAIL[1:],
    ]
    return t


def counters(t: IptablesTables) -> list[str]:
    """nfacct counters the rules name: the node needs them before the restore."""
    return [NFACCT_LOCALHOST, NFACCT_INVALID] if t.nfacct else []


def render(
    services: Sequence[Service],
    node: str,
    cluster_cidr: str,
    nfacct: bool = True,
    node_ip: str | None = None,
) -> str:
    """iptables-restore input (filter and nat) for kube-proxy on `node`."""
    return tables(categorize(services, node), cluster_cidr, nfacct, node_ip=node_ip).restore_text()


def _chain(kind: str, p: PortOnNode) -> str:
    return iptables_chain(kind, p.service.namespace, p.service.name, p.port.name, p.protocol)


def _sep(p: PortOnNode, ep: Endpoint) -> tuple[str, str]:
    """An endpoint's KUBE-SEP chain and its ip:port."""
    target = f"{ep.ip}:{p.port.target_port}"
    svc = p.service
    return iptables_endpoint_chain(svc.namespace, svc.name, p.port.name, p.protocol, target), target


def _port(t: IptablesTables, p: PortOnNode, cluster_cidr: str, node_ip: str | None) -> None:
    """One Service port, as syncProxyRules writes it: where ClusterIP traffic and external
    traffic go (the Cluster-policy KUBE-SVC or the Local-policy KUBE-SVL chain), or the
    filter rule that rejects or drops it when it has nowhere to go."""
    svc_chain, svl_chain = _chain("KUBE-SVC", p), _chain("KUBE-SVL", p)
    internal_chain = svl_chain if p.internal_local else svc_chain
    external_policy_chain = svl_chain if p.external_local else svc_chain
    ext = _chain("KUBE-EXT", p)
    uses_fw = p.has_endpoints and bool(p.service.load_balancer_ips and p.service.source_ranges)
    lb_chain = _chain("KUBE-FW", p) if uses_fw else ext
    if not p.has_endpoints:
        internal_why = external_why = ("has no endpoints", "REJECT")
    else:
        internal_why = external_why = ("has no local endpoints", "DROP")
    match = f"-m {p.protocol} -p {p.protocol} -d {p.service.cluster_ip} --dport {p.port.port}"
    if p.has_internal_endpoints:
        t.add("nat", f'-A KUBE-SERVICES -m comment --comment "{p.name} cluster IP" {match} '
                     f"-j {t.chain('nat', internal_chain)}")  # fmt: skip
    else:
        why, target = internal_why
        t.add("filter", f'-A KUBE-SERVICES -m comment --comment "{p.name} {why}" {match} -j {target}')
    _external_entries(t, p, ext, lb_chain, external_why)
    if p.health_check_node_port:
        t.add(
            "filter",
            f'-A KUBE-NODEPORTS -m comment --comment "{p.name} health check node port" '
            f"-m tcp -p tcp --dport {p.health_check_node_port} -j ACCEPT",
        )
    if p.has_internal_endpoints:  # masquerade what comes from outside the cluster CIDR
        t.add("nat", f'-A {internal_chain} -m comment --comment "{p.name} cluster IP" {match} '
                     f"! -s {cluster_cidr} -j KUBE-MARK-MASQ")  # fmt: skip
    if p.has_endpoints and p.externally_accessible:
        _external_chain(t, p, ext, svc_chain, external_policy_chain, cluster_cidr)
    if uses_fw:
        _firewall_chain(t, p, lb_chain, ext, node_ip)
    if p.cluster_endpoints and p.uses_cluster_endpoints:
        _endpoint_rules(t, p, t.chain("nat", svc_chain), p.cluster_endpoints)
    if p.local_endpoints and p.uses_local_endpoints:
        _endpoint_rules(t, p, t.chain("nat", svl_chain), p.local_endpoints)
    _sep_chains(t, p)


def _external_entries(
    t: IptablesTables, p: PortOnNode, ext: str, lb_chain: str, why: tuple[str, str]
) -> None:
    """Where external traffic enters: KUBE-SERVICES → KUBE-EXT for external IPs, and for
    LoadBalancer IPs (through KUBE-FW with source ranges), KUBE-NODEPORTS → KUBE-EXT for
    the node port; filter rules for whatever has no (local) endpoint to go to."""
    svc, proto, port = p.service, p.protocol, p.port.port
    comment, target = why

    def refuse(dest: str) -> None:
        t.add("filter", f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{p.name} {comment}" '
                        f"{dest} -j {target}")  # fmt: skip

    for ip in svc.external_ips:
        if p.has_endpoints:
            t.add("nat", f'-A KUBE-SERVICES -m comment --comment "{p.name} external IP" '
                         f"-m {proto} -p {proto} -d {ip} --dport {port} -j {t.chain('nat', ext)}")  # fmt: skip
        if not p.has_external_endpoints:
            refuse(f"-m {proto} -p {proto} -d {ip} --dport {port}")
    for ip in svc.load_balancer_ips:
        if p.has_endpoints:
            t.add("nat", f'-A KUBE-SERVICES -m comment --comment "{p.name} loadbalancer IP" '
                         f"-m {proto} -p {proto} -d {ip} --dport {port} -j {t.chain('nat', lb_chain)}")  # fmt: skip
        if lb_chain != ext:
            t.add("filter", f'-A KUBE-PROXY-FIREWALL -m comment --comment "{p.name} traffic not '
                            f'accepted by {lb_chain}" -m {proto} -p {proto} -d {ip} --dport {port} -j DROP')  # fmt: skip
    if not p.has_external_endpoints:
        for ip in svc.load_balancer_ips:
            refuse(f"-m {proto} -p {proto} -d {ip} --dport {port}")
    if p.port.node_port:
        if p.has_endpoints:
            # kube-proxy writes the localhost rule only when it can count it with nfacct
            if t.localhost_nodeports and t.nfacct:
                t.add("nat", f"-A KUBE-NODEPORTS -m comment --comment {p.name} -m {proto} -p {proto} "
                             f"-d {LOCALNET} --dport {p.port.node_port} -m nfacct --nfacct-name "
                             f"{NFACCT_LOCALHOST} -j {t.chain('nat', ext)}")  # fmt: skip
            t.add("nat", f"-A KUBE-NODEPORTS -m comment --comment {p.name} -m {proto} -p {proto} "
                         f"--dport {p.port.node_port} -j {t.chain('nat', ext)}")  # fmt: skip
        if not p.has_external_endpoints:
            refuse(f"-m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {p.port.node_port}")


def _external_chain(
    t: IptablesTables, p: PortOnNode, ext: str, svc_chain: str, policy_chain: str, cluster_cidr: str
) -> None:
    """KUBE-EXT: masquerade and go on (Cluster), or Local's short-circuits for pod and
    node traffic (to the Cluster chain) before the local endpoints."""
    name = p.name
    t.chain("nat", ext)
    if not p.external_local:
        t.add("nat", f'-A {ext} -m comment --comment "masquerade traffic for {name} external destinations" -j KUBE-MARK-MASQ')
    else:
        t.add("nat", f'-A {ext} -m comment --comment "pod traffic for {name} external destinations" -s {cluster_cidr} -j {svc_chain}')
        t.add("nat", f'-A {ext} -m comment --comment "masquerade LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ')
        t.add("nat", f'-A {ext} -m comment --comment "route LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j {svc_chain}')
    if p.has_external_endpoints:
        t.add("nat", f"-A {ext} -j {policy_chain}")


def _firewall_chain(t: IptablesTables, p: PortOnNode, fw: str, ext: str, node_ip: str | None) -> None:
    """KUBE-FW: each loadBalancerSourceRange → KUBE-EXT; when a range holds the node's own
    IP, the LB IPs as sources too (a VIP bound on the node loops back with itself as
    source); the rest falls through to the filter KUBE-PROXY-FIREWALL drop."""
    head = f'-A {fw} -m comment --comment "{p.name} loadbalancer IP"'
    allow_from_node = False
    for src in p.service.source_ranges:
        t.add("nat", f"{head} -s {src} -j {ext}")
        if node_ip and IPv4Address(node_ip) in IPv4Network(src, strict=False):
            allow_from_node = True
    if allow_from_node:
        for ip in p.service.load_balancer_ips:
            t.add("nat", f"{head} -s {ip} -j {ext}")
    t.add("nat", f'-A {fw} -m comment --comment "other traffic to {p.name} will be dropped by KUBE-PROXY-FIREWALL"')


def _endpoint_rules(
    t: IptablesTables, p: PortOnNode, chain: str, endpoints: Sequence[Endpoint]
) -> None:
    """ClientIP affinity first (one `-m recent --rcheck` per endpoint), then one rule per
    endpoint, `-m statistic --probability 1/(n−i)`, the last one without."""
    if p.service.affinity_timeout is not None:
        for ep in endpoints:
            sep, target = _sep(p, ep)
            t.add(
                "nat",
                f'-A {chain} -m comment --comment "{p.name} -> {target}" -m recent --name {sep} '
                f"--rcheck --seconds {p.service.affinity_timeout} --reap -j {sep}",
            )
    for i, ep in enumerate(endpoints):
        sep, target = _sep(p, ep)
        t.chain("nat", sep)
        stat = (
            f" -m statistic --mode random --probability {probability(i, len(endpoints))}"
            if i < len(endpoints) - 1
            else ""
        )
        t.add("nat", f'-A {chain} -m comment --comment "{p.name} -> {target}"{stat} -j {sep}')


def _sep_chains(t: IptablesTables, p: PortOnNode) -> None:
    proto, comment = p.protocol, _q(p.name)
    for ep in p.reachable_endpoints:
        sep, target = _sep(p, ep)
        recent = f" -m recent --name {sep} --set" if p.service.affinity_timeout is not None else ""
        t.add("nat", f"-A {sep} -m comment --comment {comment} -s {ep.ip} -j KUBE-MARK-MASQ")
        t.add(
            "nat",
            f"-A {sep} -m comment --comment {comment}{recent} -m {proto} -p {proto} "
            f"-j DNAT --to-destination {target}",
        )
