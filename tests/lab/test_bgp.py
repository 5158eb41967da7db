"""The `bgp` profile: real BIRD daemons peer over the underlay and install the pod routes."""

from __future__ import annotations

import json
import time

import pytest

from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from tests.lab.conftest import run_cli
from tests.lab.helpers import lab, lab_exec, status, tcp_transfer

pytestmark = pytest.mark.lab


def kernel_routes(name: str, node: str) -> dict[str, dict[str, str]]:
    shown = lab_exec(name, node, "ip", "-j", "route", "show", "table", "main")
    assert shown.returncode == 0, shown.stderr
    return {r["dst"]: r for r in json.loads(shown.stdout)}


def test_bgp_mesh_routes_come_from_bird_and_carry_pod_traffic() -> None:
    with lab("--name", "t-bgp", "--profile", "bgp", "--nodes", "2", "--pods-per-node", "2") as doc:
        assert doc["converged_seconds"] is not None and doc["converged_seconds"] < 60
        for node in doc["routing"]["bgp"]:
            assert [(s["peer"], s["established"]) for s in node["sessions"]] == [
                ({"node1": "node2", "node2": "node1"}[node["node"]], True)
            ]
        route = kernel_routes("t-bgp", "node1")["10.244.1.0/24"]
        # iproute2 names protocol 12 "bird" (RTPROT_BIRD): installed by BIRD, not by us.
        assert route["protocol"] == "bird" and route["gateway"] == "198.18.0.2", route
        assert tcp_transfer(doc, client="node1-pod1", server="node2-pod2") == "10.244.0.2"

        # Stop BIRD on node2: node1 loses the session and withdraws the route.
        ledger = Ledger.load("t-bgp")
        assert ledger is not None
        bird2 = next(p for p in ledger.processes if p.netns == "knl-t-bgp-node2")
        assert procs.end_recorded(bird2)
        deadline = time.monotonic() + 10
        while "10.244.1.0/24" in kernel_routes("t-bgp", "node1"):
            assert time.monotonic() < deadline, "route outlived the BGP session"
            time.sleep(0.1)
        ping = lab_exec("t-bgp", "node1-pod1", "ping", "-c1", "-W1", "10.244.1.2")
        assert ping.returncode != 0  # no route to the other node's pods any more
        after = status("t-bgp")
        node1 = next(n for n in after["routing"]["bgp"] if n["node"] == "node1")
        assert not node1["sessions"][0]["established"] and node1["routes"] == []


def test_bgp_route_reflector_clients_peer_only_with_it(tmp_path) -> None:
    spec = tmp_path / "rr.yaml"
    spec.write_text(
        "name: t-rr\nprofile: bgp\nprofile_options: {reflector: node1}\n"
        "nodes: 3\npods_per_node: 1\n"
    )
    with lab("-f", str(spec), "--name", "t-rr") as doc:
        sessions = {n["node"]: [s["peer"] for s in n["sessions"]] for n in doc["routing"]["bgp"]}
        assert sessions == {"node1": ["node2", "node3"], "node2": ["node1"], "node3": ["node1"]}
        # node2 learns node3's pods through the reflector, with node3 as the next hop.
        route = kernel_routes("t-rr", "node2")["10.244.2.0/24"]
        assert route["protocol"] == "bird" and route["gateway"] == "198.18.0.3"
        assert tcp_transfer(doc, client="node2-pod1", server="node3-pod1") == "10.244.1.2"


def test_bgp_unknown_reflector_is_a_usage_error_and_creates_nothing(tmp_path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: t-bad\nprofile: bgp\nprofile_options: {reflector: node9}\nnodes: 2\n")
    out = run_cli("lab", "up", "-f", str(spec))
    assert out.returncode == 2 and "reflector 'node9' is not a node" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert run_cli("lab", "status", "t-bad").returncode == 2
