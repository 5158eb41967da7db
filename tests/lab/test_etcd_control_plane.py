"""etcd as the control plane, for real: Services and EndpointSlices as Kubernetes JSON in
a real etcd, per-node agents that watch it and program their node (iptables restore,
nftables and ebpf deltas), traffic that follows an endpoint change written to etcd, and a
data path that keeps its last state when etcd dies (as kube-proxy's does)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from kubenetlab.live import attach
from tests.lab.conftest import run_cli
from tests.lab.helpers import ask, lab, status

pytestmark = pytest.mark.lab

SPEC = """
profile: native
nodes: 2
pods_per_node: 2
control_plane: etcd
services:
  - {name: web, port: 80, target_port: 8080, pods: [node1-pod1, node2-pod1, node2-pod2]}
"""


def _spec(tmp_path) -> str:
    path = tmp_path / "lab.yaml"
    path.write_text(SPEC)
    return str(path)


def _registry(name: str, key: str) -> dict:
    from kubenetlab.components.etcd import CLIENT_URL
    from kubenetlab.kernel import netns
    from kubenetlab.store import Etcd

    with netns.inside(f"knl-{name}-control"):
        items, _ = Etcd(CLIENT_URL).get_prefix(key)
    return json.loads(items[key])


@pytest.mark.parametrize("proxy", ["iptables", "nftables", "ebpf"])
def test_an_endpoint_change_written_to_etcd_moves_traffic(proxy: str, tmp_path) -> None:
    name = f"t-etcd-{proxy}"[:20]
    with lab("-f", _spec(tmp_path), "--name", name, "--proxy", proxy) as doc:
        web = doc["services"][0]["cluster_ip"]
        plane = status(name)["control_plane"]
        assert plane["etcd"]["health"] == "ok"
        revision = plane["etcd"]["revision"]
        assert all(a["applied_revision"] == revision for a in plane["agents"])
        table = run_cli("lab", "status", name).stdout  # the table shows it too
        assert f"control plane: etcd ok, revision {revision}" in table and "node agent" in table
        assert {r[0] for r in ask(name, "node1-pod2", web, 80, n=30)} == {
            "node1-pod1", "node2-pod1", "node2-pod2"
        }  # fmt: skip
        synced = attach(name).set_endpoints("web", ["node2-pod2"])
        # What the API server would hold: the EndpointSlice, as Kubernetes JSON.
        stored = _registry(name, "/registry/endpointslices/default/web-knl")
        assert stored["kind"] == "EndpointSlice"
        assert [e["addresses"] for e in stored["endpoints"]] == [[doc["pods"][3]["ip"]]]
        if proxy != "iptables":  # nftables and ebpf apply only the difference
            assert all(r.mode == "delta" for r in synced.values()), synced
        assert {r[0] for r in ask(name, "node1-pod2", web, 80, n=20)} == {"node2-pod2"}


def test_without_etcd_the_agents_say_so_and_the_data_path_keeps_its_state(tmp_path) -> None:
    data = tmp_path / "etcd-data"
    data.mkdir()
    name = "t-etcd-down"
    with lab("-f", _spec(tmp_path), "--name", name, "--etcd-data-dir", str(data)) as doc:
        web = doc["services"][0]["cluster_ip"]
        assert (data / f"knl-{name}-etcd" / "member").is_dir()  # etcd wrote there
        [etcd] = [p for p in status(name)["processes"] if p["role"] == "etcd"]
        os.kill(etcd["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not all(
            a["etcd"].startswith("unreachable") for a in status(name)["control_plane"]["agents"]
        ):
            assert time.monotonic() < deadline, status(name)["control_plane"]
            time.sleep(0.1)
        assert status(name)["control_plane"]["etcd"]["health"].startswith("unreachable")
        assert len({r[0] for r in ask(name, "node1-pod2", web, 80, n=30)}) == 3
    assert not (data / f"knl-{name}-etcd").exists()  # lab down removed what it made
