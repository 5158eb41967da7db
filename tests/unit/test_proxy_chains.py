"""kube-proxy's chain names, checked against upstream's own test expectations."""

from __future__ import annotations

from kubenetlab.proxy import chains


def test_iptables_names_match_upstream() -> None:
    assert (
        chains.iptables_chain("KUBE-SVC", "ns1", "svc1", "p80", "TCP")
        == "KUBE-SVC-XPGD46QRK7WJZT7O"
    )
    assert (
        chains.iptables_endpoint_chain("ns1", "svc1", "p80", "tcp", "10.180.0.1:80")
        == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    )


def test_nftables_names_match_upstream() -> None:
    assert (
        chains.nft_chain("service", "ns1", "svc1", "p80", "tcp")
        == "service-ULMVA6XW-ns1/svc1/tcp/p80"
    )
    assert (
        chains.nft_endpoint_chain("ns1", "svc1", "p80", "tcp", "10.180.0.1", 80)
        == "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    )


def test_probabilities_for_three_endpoints() -> None:
    assert [chains.probability(i, 3) for i in range(2)] == ["0.3333333333", "0.5000000000"]
