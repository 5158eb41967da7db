"""service-scale on the upstream kube-proxy, iptables mode: "first" and "last" are the
Services whose KUBE-SERVICES jumps a new connection meets first and last, read from
`iptables-save -t nat` as kube-proxy wrote it (its Go map order, not creation order)."""

from __future__ import annotations

from kubenetlab.scenarios.service_scale import rule_order

# as kube-proxy v1.36 writes nat KUBE-SERVICES (iptables-nft-save), abridged
NAT = """\
*nat
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.57/32 -p tcp -m comment --comment "default/scale-41:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-AAAAAAAAAAAAAAAA
-A KUBE-SERVICES -d 203.0.113.7/32 -p tcp -m comment --comment "shop/web:http external IP" -m tcp --dport 80 -j KUBE-EXT-BBBBBBBBBBBBBBBB
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SERVICES -d 10.96.0.3/32 -p tcp -m comment --comment "default/scale-0:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CCCCCCCCCCCCCCCC
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
"""  # noqa: E501 (kube-proxy's lines, as it writes them)


def test_the_jumps_in_the_order_a_packet_meets_them() -> None:
    assert rule_order(NAT) == [("10.96.0.57", 80), ("10.96.0.1", 443), ("10.96.0.10", 53),
                               ("10.96.0.3", 80)]  # fmt: skip
    assert rule_order("") == []
