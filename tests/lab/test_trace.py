"""`kubenetlab trace` on real labs: every interface crossing of a pod → pod probe, in
path order, timed in the kernel; VXLAN's 50 bytes visible on the wire; nothing left
attached afterwards."""

from __future__ import annotations

import json

import pytest

from tests.lab.conftest import run_cli
from tests.lab.helpers import lab, lab_exec

pytestmark = pytest.mark.lab

REQUEST_PATH = [
    "node1-pod1:knl-eth0 out", "node1:knl-p1 in", "node1:knl-up out", "fabric:knl-n1 in",
    "fabric:knl-n2 out", "node2:knl-up in", "node2:knl-p1 out", "node2-pod1:knl-eth0 in",
]  # fmt: skip


def _trace(name: str, *extra: str) -> dict:
    out = run_cli("trace", name, "--from", "node1-pod1", "--to", "node2-pod1",
                  "--packets", "300", "-o", "json", *extra, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_native_path_is_every_crossing_in_order() -> None:
    with lab(
        "--name", "t-trace-nat", "--profile", "native", "--nodes", "2", "--pods-per-node", "1"
    ):
        doc = _trace("t-trace-nat")
        assert doc["answered"] >= 290
        request = doc["directions"]["request"]
        assert [h["hop"] for h in request] == REQUEST_PATH
        assert all(h["samples"] >= 250 for h in request[1:])
        assert all(0 <= h["p50_us"] <= h["p90_us"] <= h["p99_us"] for h in request[1:])
        # 64-byte probe: UDP 8 + IP 20 + Ethernet 14 at every crossing, no encapsulation.
        assert {h["wire_bytes"] for h in request} == {106}
        assert doc["directions"]["reply"][0]["hop"] == "node2-pod1:knl-eth0 out"
        links = lab_exec("t-trace-nat", "node1", "bpftool", "net", "show")
        assert "trace" not in links.stdout  # detached after the run


def test_vxlan_adds_its_50_bytes_between_the_nodes(tmp_path) -> None:
    with lab("--name", "t-trace-vx", "--profile", "vxlan", "--nodes", "2", "--pods-per-node", "1"):
        doc = _trace("t-trace-vx", "--report", str(tmp_path))
        request = {h["hop"]: h for h in doc["directions"]["request"]}
        assert request["node1-pod1:knl-eth0 out"]["wire_bytes"] == 106
        assert request["node1:knl-up out"]["wire_bytes"] == 106 + 50
        assert request["node2-pod1:knl-eth0 in"]["wire_bytes"] == 106
        assert (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"
        assert json.loads((tmp_path / "trace.json").read_text())["answered"] == doc["answered"]
