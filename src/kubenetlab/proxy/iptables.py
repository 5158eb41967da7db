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
Session affinity is not rendered.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubenetlab.proxy.chains import iptables_chain, iptables_endpoint_chain, probability
from kubenetlab.services import Endpoint, Service, ServicePort

MASQ_MARK = "0x4000"
NODEPORTS_LAST = (
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: '
    'this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
)


def _q(text: str) -> str:
    return f'"{text}"' if " " in text else text


class _Tables:
    def __init__(self) -> None:
        self.chains: dict[str, list[str]] = {"filter": [], "nat": []}
        self.rules: dict[str, list[str]] = {"filter": [], "nat": []}

    def chain(self, table: str, name: str) -> str:
        if name not in self.chains[table]:
            self.chains[table].append(name)
        return name

    def add(self, table: str, rule: str) -> None:
        self.rules[table].append(rule)


def _endpoint_rules(
    t: _Tables,
    svc: Service,
    port: ServicePort,
    chain: str,
    endpoints: Sequence[Endpoint],
    comment_name: str,
) -> None:
    proto = port.protocol.lower()
    for i, ep in enumerate(endpoints):
        target = f"{ep.ip}:{port.target_port}"
        sep = t.chain(
            "nat", iptables_endpoint_chain(svc.namespace, svc.name, port.name, proto, target)
        )
        stat = (
            f" -m statistic --mode random --probability {probability(i, len(endpoints))}"
            if i < len(endpoints) - 1
            else ""
        )
        t.add("nat", f'-A {chain} -m comment --comment "{comment_name} -> {target}"{stat} -j {sep}')


def _sep_chains(t: _Tables, svc: Service, port: ServicePort, name: str) -> None:
    proto = port.protocol.lower()
    for ep in svc.ready_endpoints():
        target = f"{ep.ip}:{port.target_port}"
        sep = iptables_endpoint_chain(svc.namespace, svc.name, port.name, proto, target)
        t.add("nat", f"-A {sep} -m comment --comment {_q(name)} -s {ep.ip} -j KUBE-MARK-MASQ")
        t.add(
            "nat",
            f"-A {sep} -m comment --comment {_q(name)} -m {proto} -p {proto} "
            f"-j DNAT --to-destination {target}",
        )


def render(services: Sequence[Service], node: str, cluster_cidr: str) -> str:
    """iptables-restore input (filter and nat) for kube-proxy on `node`."""
    t = _Tables()
    for name in (
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-SERVICES",
    ):
        t.chain("filter", name)
    for name in ("KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"):
        t.chain("nat", name)
    for rule in (
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ):
        t.add("filter", rule)
    t.add("nat", '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
    t.add("nat", '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
    t.add(
        "nat",
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    )
    t.add("nat", f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}")
    t.add("nat", f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN")
    t.add("nat", f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}")
    t.add(
        "nat",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    )
    for svc in services:
        for port in svc.ports:
            _render_port(t, svc, port, node, cluster_cidr)
    t.add("nat", NODEPORTS_LAST)
    t.add("filter", "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")
    t.add(
        "filter",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
    )
    t.add(
        "filter",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    )
    out: list[str] = []
    for table, builtins in (
        ("filter", ("INPUT", "FORWARD", "OUTPUT")),
        ("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
    ):
        out.append(f"*{table}")
        out += [f":{b} ACCEPT [0:0]" for b in builtins]
        out += [f":{c} - [0:0]" for c in t.chains[table]]
        out += t.rules[table]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def _render_port(t: _Tables, svc: Service, port: ServicePort, node: str, cluster_cidr: str) -> None:
    proto = port.protocol.lower()
    name = f"{svc.key}:{port.name}"
    match = f"-m {proto} -p {proto} -d {svc.cluster_ip} --dport {port.port}"
    endpoints = svc.ready_endpoints()
    local = svc.local_endpoints(node)
    if port.node_port and svc.health_check_node_port and svc.local:
        t.add(
            "filter",
            f'-A KUBE-NODEPORTS -m comment --comment "{name} health check node port" '
            f"-m tcp -p tcp --dport {svc.health_check_node_port} -j ACCEPT",
        )
    if not endpoints:
        t.add(
            "filter",
            f'-A KUBE-SERVICES -m comment --comment "{name} has no endpoints" {match} -j REJECT',
        )
        if port.node_port:
            t.add(
                "filter",
                f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{name} has no endpoints" '
                f"-m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {port.node_port} "
                "-j REJECT",
            )
        return
    svc_chain = t.chain(
        "nat", iptables_chain("KUBE-SVC", svc.namespace, svc.name, port.name, proto)
    )
    t.add(
        "nat", f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {match} -j {svc_chain}'
    )
    t.add(
        "nat",
        f'-A {svc_chain} -m comment --comment "{name} cluster IP" {match} '
        f"! -s {cluster_cidr} -j KUBE-MARK-MASQ",
    )
    _endpoint_rules(t, svc, port, svc_chain, endpoints, name)
    if port.node_port:
        ext = t.chain("nat", iptables_chain("KUBE-EXT", svc.namespace, svc.name, port.name, proto))
        t.add(
            "nat",
            f"-A KUBE-NODEPORTS -m comment --comment {name} -m {proto} -p {proto} "
            f"--dport {port.node_port} -j {ext}",
        )
        if not svc.local:
            t.add(
                "nat",
                f'-A {ext} -m comment --comment "masquerade traffic for {name} external '
                'destinations" -j KUBE-MARK-MASQ',
            )
            t.add("nat", f"-A {ext} -j {svc_chain}")
        else:
            t.add(
                "nat",
                f'-A {ext} -m comment --comment "pod traffic for {name} external destinations" '
                f"-s {cluster_cidr} -j {svc_chain}",
            )
            t.add(
                "nat",
                f'-A {ext} -m comment --comment "masquerade LOCAL traffic for {name} external '
                'destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
            )
            t.add(
                "nat",
                f'-A {ext} -m comment --comment "route LOCAL traffic for {name} external '
                f'destinations" -m addrtype --src-type LOCAL -j {svc_chain}',
            )
            if local:
                svl = t.chain(
                    "nat", iptables_chain("KUBE-SVL", svc.namespace, svc.name, port.name, proto)
                )
                t.add("nat", f"-A {ext} -j {svl}")
                _endpoint_rules(t, svc, port, svl, local, name)
            else:
                t.add(
                    "filter",
                    f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{name} has no local '
                    f'endpoints" -m addrtype --dst-type LOCAL -m {proto} -p {proto} '
                    f"--dport {port.node_port} -j DROP",
                )
    _sep_chains(t, svc, port, name)
