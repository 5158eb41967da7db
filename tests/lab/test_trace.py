"""`kubenetlab trace` on real labs: every interface crossing of a pod → pod probe, in
path order, timed in the kernel; VXLAN's encapsulation hops and its 50 bytes; hop sums
within the round trip the client measured; a ClusterIP's DNAT followed; nothing left
attached afterwards (bpftool net, tc filter, in every namespace)."""

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


def _trace(name: str, *extra: str, src: str = "node1-pod1", dst: str = "node2-pod1") -> dict:
    out = run_cli("trace", name, "--from", src, "--to", dst,
                  "--packets", "300", "-o", "json", *extra, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _nothing_attached(doc: dict) -> None:
    """No BPF program and no tc filter of the tracer in any of the lab's namespaces."""
    members = ["fabric", *(n["name"] for n in doc["nodes"]), *(p["name"] for p in doc["pods"])]
    for member in members:
        links = lab_exec(doc["name"], member, "bpftool", "net", "show")
        assert links.returncode == 0 and "trace_" not in links.stdout, member
        for ifname in ("knl-eth0", "knl-up", "knl-p1", "knl-vxlan"):
            tc = lab_exec(doc["name"], member, "tc", "filter", "show", "dev", ifname, "ingress")
            assert "trace" not in tc.stdout, (member, ifname)


def _hop_sums_within_round_trip(doc: dict) -> None:
    """The request and reply paths together take no longer than the client's round trip."""
    paths = doc["path_p50_us"]
    assert 0 < paths["request"] + paths["reply"] <= doc["rtt_us"]["p50"]


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
        _hop_sums_within_round_trip(doc)
        assert all(h["what"] for h in request[1:])  # every hop says what happens there


def test_vxlan_adds_its_50_bytes_between_the_nodes(tmp_path) -> None:
    with lab(
        "--name", "t-trace-vx", "--profile", "vxlan", "--nodes", "2", "--pods-per-node", "1"
    ) as status:
        doc = _trace("t-trace-vx", "--report", str(tmp_path))
        hops = [h["hop"] for h in doc["directions"]["request"]]
        # native's path plus the two tunnel crossings: encapsulation on node1, decapsulation on node2
        assert [h for h in hops if "vxlan" not in h] == REQUEST_PATH
        assert hops[2:4] == ["node1:knl-vxlan out", "node1:knl-up out"]
        assert hops[7] == "node2:knl-vxlan in"
        request = {h["hop"]: h for h in doc["directions"]["request"]}
        assert request["node1-pod1:knl-eth0 out"]["wire_bytes"] == 106
        assert request["node1:knl-up out"]["wire_bytes"] == 106 + 50
        assert "encapsulated" in request["node1:knl-up out"]["what"]
        assert "decapsulated" in request["node2:knl-vxlan in"]["what"]
        assert request["node2-pod1:knl-eth0 in"]["wire_bytes"] == 106
        _hop_sums_within_round_trip(doc)
        # TCP messages over one connection: the same crossings, the probe's 5-tuple is TCP.
        rr = _trace("t-trace-vx", "--test", "rr")
        assert [h["hop"] for h in rr["directions"]["request"]] == hops
        assert rr["directions"]["request"][0]["flow"].startswith("tcp 10.244.0.2:")
        assert rr["answered"] >= 290
        _hop_sums_within_round_trip(rr)
        # By time instead of count: as many probes as fit in the second, the most given.
        timed = json.loads(run_cli("trace", "t-trace-vx", "--from", "node1-pod1", "--to",
                                   "node2-pod1", "--duration", "1", "-o", "json").stdout)  # fmt: skip
        assert 100 < timed["probes"] < 1000000 and timed["answered"] >= timed["probes"] - 5
        _nothing_attached(status)
        assert (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"
        assert json.loads((tmp_path / "trace.json").read_text())["answered"] == doc["answered"]


@pytest.mark.parametrize("proxy", ["iptables", "nftables"])
def test_clusterip_dnat_is_followed(proxy: str) -> None:
    """A TCP connection per probe to a ClusterIP: the probe leaves its pod for the Service's
    address and arrives at a backend's; the hop where that changes is the node's egress
    (kube-proxy's DNAT), and the reply is translated back on the client's node."""
    name = f"t-trace-{proxy}"[:20]
    spec = ["-f", "examples/services.yaml", "--name", name, "--proxy", proxy, "--profile", "native"]
    with lab(*spec) as status:
        web = next(s for s in status["services"] if s["name"] == "web")
        doc = _trace(name, "--test", "crr", src="node2-pod2", dst=web["namespace"] + "/web")
        assert doc["answered"] >= 290
        request, reply = doc["directions"]["request"], doc["directions"]["reply"]
        vip = f"{web['cluster_ip']}:80"
        assert request[0]["flow"].endswith(f"→ {vip}")  # as the pod sent it
        assert request[1]["flow"].endswith(f"→ {vip}")  # still, entering node2
        changed = next(i for i, h in enumerate(request) if not h["flow"].endswith(vip))
        assert request[changed]["hop"].startswith("node2:") and request[changed]["hop"].endswith(
            " out"
        )
        assert request[-1]["flow"].endswith(":8080") and request[-1]["hop"].endswith(":knl-eth0 in")
        assert reply[-1]["hop"] == "node2-pod2:knl-eth0 in"
        assert reply[-1]["flow"].startswith(f"tcp {vip} →")  # un-NATed before the pod
        _hop_sums_within_round_trip(doc)
        _nothing_attached(status)


def test_compare_trace_breaks_each_profile_down(tmp_path) -> None:
    """compare --trace: each profile's path hop by hop, from the same labs; VXLAN's two
    tunnel crossings and its 50 bytes against native routing."""
    out = run_cli("compare", "--profiles", "native,vxlan", "--tests", "rr", "--repeats", "1",
                  "--duration", "1", "--trace", "200", "--report", str(tmp_path), "-o", "json",
                  timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = {r["profile"]: r for r in json.loads(out.stdout)["rows"]}
    native, vxlan = (rows[p]["trace"]["directions"]["request"] for p in ("native", "vxlan"))
    assert [h["hop"] for h in native] == REQUEST_PATH
    assert len(vxlan) == len(native) + 2
    assert max(h["wire_bytes"] for h in vxlan) - max(h["wire_bytes"] for h in native) == 50
    assert "trace" not in rows["underlay"]  # the baseline is node → node, not traced
    assert (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"
