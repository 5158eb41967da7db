"""The cluster's Services replayed into the twin (assess/replay.py): shapes kept, what the
lab allocates left to it, endpoints per Service kept, their spread over the nodes carried
onto the twin's nodes, and a measurable first and last Service always there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from kubenetlab.assess import profile, replay, snapshot, twin
from kubenetlab.kube.objects import SERVICE_NAME_LABEL

DUMP = Path(__file__).parents[2] / "examples" / "assess" / "small-cluster.yaml"


def _example() -> replay.Replay:
    return replay.replay(snapshot.from_files([str(DUMP)]), 1000, 3)


def test_the_examples_programmable_services_keep_their_shapes() -> None:
    got = _example()
    keys = [s.key for s in got.services]
    assert keys == ["kube-system/kube-dns", "shop/frontend", "shop/cart", "shop/catalog",
                    "shop/checkout", "shop/payments"]  # fmt: skip
    assert any("headless" in n for n in got.notes) and any("kubernetes" in n for n in got.notes)
    by = {s.key: s for s in got.services}
    dns = by["kube-system/kube-dns"].service()
    assert [(p["name"], p["port"], p["protocol"]) for p in dns["spec"]["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]  # fmt: skip
    assert by["kube-system/kube-dns"].probe_port == 53  # its first TCP port
    for s in got.services:  # what the twin's API allocates, and no selector: slices are ours
        spec = s.service()["spec"]
        assert "clusterIP" not in spec and "selector" not in spec
        assert all("nodePort" not in p for p in spec["ports"])
    assert by["shop/payments"].spec["type"] == "LoadBalancer"
    local = [s for s in got.services if s.spec.get("externalTrafficPolicy") == "Local"]
    assert len(local) == 1  # the dump's one ETP Local Service
    assert got.to_dict()["types"] == {"ClusterIP": 4, "LoadBalancer": 1, "NodePort": 1}


def test_endpoints_keep_their_count_and_land_on_distinct_pods() -> None:
    got = _example()
    read = snapshot.from_files([str(DUMP)])
    ready = Counter(f"{s.namespace}/{s.service_name}" for s in read.slices for e in s.endpoints
                    if e.ready)  # fmt: skip
    address_of = {(n, p): (f"10.0.{n}.{p}", f"node{n + 1}") for n in range(3) for p in range(9)}
    for s in got.services:
        assert len(s.endpoints) == ready[s.key], s.key
        assert len(set(s.endpoints)) == len(s.endpoints) and replay.CLIENT not in s.endpoints
        assert all(0 <= n < got.nodes and 0 <= p < got.pods_per_node for n, p in s.endpoints)
        eps = s.endpoint_slice(address_of)
        assert eps["metadata"]["labels"] == {SERVICE_NAME_LABEL: s.name}
        assert {p["port"] for p in eps["ports"]} == {replay.TARGET_PORT}
        assert [p["name"] for p in eps["ports"]] == [p["name"] for p in s.spec["ports"]]
    assert set(got.backends()) == {slot for s in got.services for slot in s.endpoints}


def _cluster(tmp_path: Path, spread: dict[str, int]) -> snapshot.Snapshot:
    """One Service per node count: node → that many endpoints, in one slice per Service."""
    items: list[dict[str, Any]] = []
    for i, (node, n) in enumerate(spread.items()):
        name = f"svc-{i}"
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": name, "namespace": "app"},
                      "spec": {"clusterIP": f"10.96.1.{i + 1}",
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})  # fmt: skip
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": f"{name}-x", "namespace": "app",
                                   "labels": {SERVICE_NAME_LABEL: name}},
                      "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                      "endpoints": [{"addresses": [f"10.244.{i}.{k}"], "nodeName": node}
                                    for k in range(n)]})  # fmt: skip
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return snapshot.from_files([str(path)])


def test_each_twin_node_carries_its_cluster_nodes_share(tmp_path: Path) -> None:
    snap = _cluster(tmp_path, {"a": 4, "b": 3, "c": 2, "d": 1})  # 40/30/20/10 %
    two = replay.replay(snap, 100, 2)
    assert two.to_dict()["endpoints_per_twin_node"] == [5, 5]
    three = replay.replay(snap, 100, 3)
    assert sorted(three.to_dict()["endpoints_per_twin_node"]) == [3, 3, 4]
    assert three.node_map["a"] != three.node_map["b"]


def test_endpoints_are_capped_and_the_cap_is_said(tmp_path: Path) -> None:
    got = replay.replay(_cluster(tmp_path, {"a": 14}), 100, 2)
    [svc] = got.services
    assert len(svc.endpoints) == replay.MAX_ENDPOINTS_PER_SERVICE
    assert any("capped" in n for n in got.notes)
    assert got.pods_per_node >= replay.MAX_ENDPOINTS_PER_SERVICE  # distinct pods on one node


def test_without_a_measurable_service_probes_stand_first_and_last(tmp_path: Path) -> None:
    got = replay.replay(_cluster(tmp_path, {"a": 0}), 100, 2)  # a Service with no endpoints
    first, last = got.measured()
    assert (first.name, last.name) == ("knl-probe-first", "knl-probe-last")
    assert got.services[1].name == "svc-0" and any("probe" in n for n in got.notes)


def test_the_plan_carries_the_replay() -> None:
    read = snapshot.from_files([str(DUMP)])
    plan = twin.plan(profile.profile(read), snapshot=read)
    assert plan.replay is not None and plan.services == 6
    doc = plan.to_dict()["replay"]
    assert doc["measured"] == ["kube-system/kube-dns", "shop/payments"]
    assert sum(doc["endpoints_per_twin_node"]) == doc["endpoints"] == 14

