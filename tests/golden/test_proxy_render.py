"""Golden tests of the service-proxy renderers, with the cases kube-proxy's own tests use:
a ClusterIP Service with 3 endpoints (probabilities 0.3333333333, 0.5000000000, none), a
Local NodePort with and without a local endpoint, a Cluster NodePort, a Service without
endpoints. Regenerate with KNL_UPDATE_GOLDEN=1 after an intended change."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from kubenetlab.proxy import iptables, nftables
from kubenetlab.services import Endpoint, Service, ServicePort

DATA = Path(__file__).parent / "data"
CLUSTER_CIDR, SERVICE_CIDR = "10.244.0.0/16", "10.96.0.0/12"

SERVICES = (
    Service(
        "ns1",
        "svc1",
        "10.96.0.41",
        (ServicePort("p80", 80, 8080),),
        endpoints=(
            Endpoint("10.244.0.2", "node1"),
            Endpoint("10.244.1.2", "node2"),
            Endpoint("10.244.1.3", "node2"),
        ),
    ),
    Service(
        "ns2",
        "svc2",
        "10.96.0.42",
        (ServicePort("p80", 80, 80, "TCP", 30001),),
        "NodePort",
        "Local",
        32001,
        (Endpoint("10.244.1.4", "node2"),),
    ),
    Service(
        "ns3",
        "svc3",
        "10.96.0.43",
        (ServicePort("p80", 80, 80, "TCP", 30003),),
        "NodePort",
        "Cluster",
        None,
        (Endpoint("10.244.0.5", "node1"),),
    ),
    Service("ns4", "svc4", "10.96.0.44", (ServicePort("dns", 53, 53, "UDP"),)),
)


def _golden(name: str, text: str) -> None:
    path = DATA / name
    if os.environ.get("KNL_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_iptables_render_matches_golden(node: str) -> None:
    _golden(f"iptables-{node}.txt", iptables.render(SERVICES, node, CLUSTER_CIDR))


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_nftables_render_matches_golden(node: str) -> None:
    rs = nftables.rule_set(
        SERVICES, node, ["198.18.0.1" if node == "node1" else "198.18.0.2"], CLUSTER_CIDR
    )
    _golden(f"nftables-{node}.txt", nftables.render_full(rs, CLUSTER_CIDR, SERVICE_CIDR))


def test_three_endpoints_get_kube_proxys_probabilities() -> None:
    text = iptables.render(SERVICES, "node1", CLUSTER_CIDR)
    svc1 = [
        line
        for line in text.splitlines()
        if line.startswith("-A KUBE-SVC-") and " -> " in line and "ns1/svc1" in line
    ]
    assert len(svc1) == 3
    assert "--probability 0.3333333333" in svc1[0] and "--probability 0.5000000000" in svc1[1]
    assert "statistic" not in svc1[2]


def test_local_nodeport_drops_only_where_no_local_endpoint() -> None:
    node1 = iptables.render(SERVICES, "node1", CLUSTER_CIDR)
    node2 = iptables.render(SERVICES, "node2", CLUSTER_CIDR)
    drop = '"ns2/svc2:p80 has no local endpoints"'
    assert drop in node1 and drop not in node2
    assert "KUBE-SVL-" in node2 and "KUBE-SVL-" not in node1


def test_nftables_delta_touches_only_what_changed() -> None:
    old = nftables.rule_set(SERVICES, "node1", ["198.18.0.1"], CLUSTER_CIDR)
    moved = dataclasses.replace(
        SERVICES[0], endpoints=(Endpoint("10.244.0.2", "node1"), Endpoint("10.244.1.9", "node2"))
    )
    new = nftables.rule_set((moved, *SERVICES[1:]), "node1", ["198.18.0.1"], CLUSTER_CIDR)
    delta = nftables.render_delta(old, new)
    _golden("nftables-delta.txt", delta)
    assert "svc2" not in delta and "svc3" not in delta  # untouched Services
    # one chain refilled with the new DNAT map, nothing else (no endpoint chains in v1.36)
    assert delta.count("flush chain") == 1 and "10.244.1.9 . 8080" in delta
    assert nftables.render_delta(new, new) == ""
