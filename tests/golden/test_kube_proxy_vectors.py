"""kube-proxy's own expected output as the golden text: the Services of
TestOverallIPTablesRules (kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go),
rendered by kubenetlab and compared chain by chain with what that test expects. It
covers ClusterIP, Local and Cluster LoadBalancers, external IPs, a NodePort, source
ranges (KUBE-FW + KUBE-PROXY-FIREWALL), ClientIP affinity and a Service without
endpoints.

One difference is set aside, named here: kubenetlab writes `MASQUERADE --random-fully`
(what kube-proxy writes when iptables has the flag; upstream's fake iptables has not).
Localhost NodePorts, the KUBE-FIREWALL localnet DROP and the nfacct counters are
rendered as kube-proxy does on a kernel with nfacct (`proxy render` and a lab node whose
kernel has xt_nfacct); without it the localhost NodePort rules go and the INVALID drop
loses its counter, as kube-proxy writes them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kubenetlab.kube.objects import parse_all
from kubenetlab.proxy import iptables, nftables
from kubenetlab.services import read_kubernetes

DATA = Path(__file__).parent / "data" / "upstream"
NODE, CLUSTER_CIDR = "test-node", "10.0.0.0/8"


def _by_chain(text: str) -> dict[tuple[str, str], list[str]]:
    """(table, chain) → rules in order, as kube-proxy's assertIPTablesRulesEqual compares."""
    out: dict[tuple[str, str], list[str]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":KUBE-"):
            out.setdefault((table, line[1:].split()[0]), [])
        elif line.startswith("-A KUBE-"):
            out.setdefault((table, line.split()[1]), []).append(line)
    return out


def _rendered(nfacct: bool = True) -> dict[tuple[str, str], list[str]]:
    docs = [d for d in yaml.safe_load_all((DATA / "kube-proxy-overall.yaml").read_text()) if d]
    services, unsupported = read_kubernetes(parse_all(docs))
    assert not unsupported
    text = iptables.render(services, NODE, CLUSTER_CIDR, nfacct)
    return _by_chain(text.replace("-j MASQUERADE --random-fully", "-j MASQUERADE"))


def _expected() -> dict[tuple[str, str], list[str]]:
    return _by_chain((DATA / "iptables-overall.txt").read_text())


def test_every_chain_matches_kube_proxy_rule_for_rule() -> None:
    expected, rendered = _expected(), _rendered()
    for key, rules in expected.items():
        assert rendered.get(key) == rules, f"{key} differs from kube-proxy's"
    extra = sorted(set(rendered) - set(expected))
    assert extra == [], f"chains kube-proxy does not write here: {extra}"


def test_without_nfacct_the_localhost_node_ports_go() -> None:
    """A kernel without xt_nfacct: kube-proxy writes its localhost NodePort rules only when
    it can count them (proxier.go: `nfAcctCounters[LocalhostNodePortAcceptedNFAcctCounter]`),
    and the INVALID drop without its counter; the rest is the same."""
    localhost = " -m nfacct --nfacct-name localhost_nps_accepted_pkts"
    invalid = " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts"
    expected = {
        key: [r.replace(invalid, "") for r in rules if localhost not in r]
        for key, rules in _expected().items()
    }
    assert _rendered(nfacct=False) == expected


def _nft_view(text: str) -> tuple[set[str], dict[str, list[str]]]:
    """(every non-rule line, chain → its rules in order): what assertNFTablesTransactionEqual
    compares (objects as a set, rules in order within each chain)."""
    objects: set[str] = set()
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.split()[1] == "table":
            continue
        if line.startswith("add rule "):
            chain = line.split()[4]
            rules.setdefault(chain, []).append(line)
        else:
            objects.add(line)
    return objects, rules


def test_nftables_matches_kube_proxy_object_for_object() -> None:
    docs = [d for d in yaml.safe_load_all((DATA / "kube-proxy-overall.yaml").read_text()) if d]
    services, _ = read_kubernetes(parse_all(docs))
    rs = nftables.rule_set(services, NODE, ["192.168.0.2"], CLUSTER_CIDR)
    mine = _nft_view(nftables.render_full(rs, CLUSTER_CIDR, "172.30.0.0/16"))
    upstream = _nft_view((DATA / "nftables-overall.txt").read_text())
    assert mine[0] == upstream[0], mine[0] ^ upstream[0]
    assert mine[1] == upstream[1]
