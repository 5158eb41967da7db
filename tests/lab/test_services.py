"""Service semantics with real traffic, for every service proxy (kube-proxy behaviour):
ClusterIP, NodePort from outside, externalTrafficPolicy Cluster (SNAT) and Local (client
IP kept, drop without local endpoint), health-check node ports, hairpin, no endpoints."""

from __future__ import annotations

import json
import math
import sys
from statistics import NormalDist

import pytest

from kubenetlab.live import attach
from tests.lab.helpers import HEALTH, ask, lab, lab_exec

pytestmark = pytest.mark.lab

SPEC = ["-f", "examples/services.yaml", "--nodes", "2", "--pods-per-node", "2"]


@pytest.mark.parametrize("proxy", ["iptables", "nftables", "iptables-legacy", "ebpf"])
def test_service_semantics(proxy: str) -> None:
    name = f"t-svc-{proxy}"[:20]
    with lab(*SPEC, "--name", name, "--proxy", proxy) as doc:
        assert doc["proxy"] == proxy
        svcs = {s["name"]: s for s in doc["services"]}
        web, pay, empty = svcs["web"]["cluster_ip"], svcs["payments"], svcs["empty"]["cluster_ip"]
        pods = {p["name"]: p["ip"] for p in doc["pods"]}
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}
        client = doc["client"]["ip"]

        # ClusterIP from a pod that is not an endpoint: a backend answers and sees the pod.
        for who, seen in ask(name, "node2-pod2", web, 80, n=10):
            assert who in {"node1-pod1", "node2-pod1", "node1-pod2"}
            assert seen.split(":")[0] == pods["node2-pod2"]

        # NodePort, Local, on the node holding the endpoint: the real client IP arrives.
        [[who, seen]] = ask(name, "client", nodes["node2"], pay["ports"][0]["node_port"])
        assert who == "node2-pod2" and seen.split(":")[0] == client
        # ... on a node without a local endpoint: dropped (no answer, not refused).
        assert ask(name, "client", nodes["node1"], pay["ports"][0]["node_port"], timeout=1.5) == [
            ["TimeoutError"]
        ]

        # Health-check node port: 200 with a local endpoint, 503 without, kube-proxy's body.
        hc = pay["health_check_node_port"]
        for node, status, count in (("node2", 200, 1), ("node1", 503, 0)):
            out = json.loads(
                lab_exec(name, "client", sys.executable, "-c", HEALTH, nodes[node], str(hc)).stdout
            )
            assert out["status"] == status
            assert out["body"] == {
                "service": {"namespace": "fintech-prod", "name": "payments"},
                "localEndpoints": count,
                "serviceProxyHealthy": True,
            }
            assert out["headers"]["Content-Type"] == "application/json"
            assert out["headers"]["X-Content-Type-Options"] == "nosniff"
            assert out["headers"]["X-Load-Balancing-Endpoint-Weight"] == str(count)

        # Hairpin: the only endpoint of `payments` reaches itself through its own ClusterIP.
        [[who, seen]] = ask(name, "node2-pod2", pay["cluster_ip"], 443)
        assert who == "node2-pod2"
        if proxy == "ebpf":  # socket LB connects the pod straight to itself: nothing to NAT
            assert seen.split(":")[0] == pods["node2-pod2"]
        else:  # masqueraded to its node, so the reply comes back through the node
            assert seen.split(":")[0] != pods["node2-pod2"]

        # No endpoints: refused at once. kube-proxy REJECTs (ICMP port unreachable); Cilium's
        # socket LB fails connect() itself (SYS_REJECT: EPERM), before any packet.
        refused = "PermissionError" if proxy == "ebpf" else "ConnectionRefusedError"
        assert ask(name, "node1-pod1", empty, 80) == [[refused]]


@pytest.mark.parametrize("proxy", ["iptables", "nftables", "ebpf"])
def test_cluster_policy_nodeport_snats_to_the_node(proxy: str, tmp_path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "services:\n  - {name: api, type: NodePort, node_port: 30080, pods: [node2-pod1]}\n"
    )
    name = f"t-snat-{proxy}"[:20]
    with lab(
        "-f", str(spec), "--name", name, "--nodes", "2", "--pods-per-node", "1", "--proxy", proxy
    ) as doc:
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}
        # Sent to node1, which has no endpoint: forwarded to node2 and SNATed on the way.
        [[who, seen]] = ask(name, "client", nodes["node1"], 30080)
        assert who == "node2-pod1"
        assert seen.split(":")[0] not in (doc["client"]["ip"],)
        assert seen.split(":")[0] in (
            "10.244.0.0",
            "10.244.0.1",
            nodes["node1"],
        )  # node1's own address


def _binomial_bounds(n: int, p: float, family: float, k: int) -> tuple[float, float]:
    """Normal-approximation bounds holding for all k categories at once (Bonferroni):
    each category at two-sided 1 − (1 − family)/k, e.g. z = 2.935 for 99% over 3."""
    z = NormalDist().inv_cdf(1 - (1 - family) / (2 * k))
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd, n * p + z * sd


@pytest.mark.parametrize("proxy", ["iptables", "nftables", "ebpf"])
def test_3000_connections_spread_evenly_over_3_endpoints(proxy: str) -> None:
    """Each endpoint's share must lie within 99% binomial bounds of 1/3 (family-wise over the
    3 endpoints). A fair spread still leaves such bounds 1% of the time, so one fresh sample
    is drawn before failing; a wrong rule (e.g. 1/3 on every rule: 1/3, 2/9, 4/9) fails both."""
    name = f"t-dist-{proxy}"[:20]
    with lab(*SPEC, "--name", name, "--proxy", proxy) as doc:
        web = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "web")
        low, high = _binomial_bounds(3000, 1 / 3, 0.99, 3)
        for _ in range(2):
            replies = ask(name, "node2-pod2", web, 80, n=3000)
            counts = {
                p: sum(1 for r in replies if r[0] == p)
                for p in ("node1-pod1", "node2-pod1", "node1-pod2")
            }
            assert sum(counts.values()) == 3000, counts
            if all(low <= c <= high for c in counts.values()):
                return
        pytest.fail(f"{proxy}: {counts} outside [{low:.0f}, {high:.0f}] twice")


def test_nftables_endpoint_change_is_incremental_and_moves_traffic() -> None:
    with lab(*SPEC, "--name", "t-nft-delta", "--proxy", "nftables") as doc:
        web = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "web")
        synced = attach("t-nft-delta").set_endpoints("web", ["node2-pod2"])
        # Only web's chains and elements change (3 endpoints → 1), on every node, quickly.
        assert all(r.mode == "delta" and 0 < r.changed <= 12 for r in synced.values()), synced
        assert all(r.seconds < 1.0 for r in synced.values()), synced
        assert {r[0] for r in ask("t-nft-delta", "node1-pod1", web, 80, n=20)} == {"node2-pod2"}


def test_service_scale_scenario_small_run(tmp_path) -> None:
    from tests.lab.conftest import run_cli

    out = run_cli(
        "scenario",
        "service-scale",
        "--services",
        "5,200",
        "--proxy",
        "iptables,nftables",
        "--repeats",
        "1",
        "--duration",
        "1",
        "-o",
        "json",
        "--report",
        str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rows = {(r["proxy"], r["services"]): r for r in doc["rows"]}
    assert set(rows) == {("iptables", 5), ("iptables", 200), ("nftables", 5), ("nftables", 200)}
    for r in rows.values():
        assert r["program_seconds"] > 0 and r["rule_lines"] > 0
        assert 0 < r["crr_first"]["p50"]["median"] <= r["crr_first"]["p99"]["median"]
        assert r["crr_last"]["cpu_us_per_txn"]["median"] > 0  # a connection costs CPU
        assert r["tool"].startswith("kubenetlab knl-rr")
    assert rows[("iptables", 200)]["rule_lines"] > 20 * rows[("iptables", 5)]["rule_lines"]
    assert (tmp_path / "service-scale.png").read_bytes()[:4] == b"\x89PNG"


def test_service_scale_on_the_api_measures_the_upstream_kube_proxy() -> None:
    """--control-plane kubernetes: Services written to the lab's API in steps, kube-proxy
    v1.36 programming them, its own rule count growing with N, CRR to the first and last."""
    from tests.lab.conftest import run_cli

    out = run_cli("scenario", "service-scale", "--services", "5,60", "--proxy", "iptables",
                  "--control-plane", "kubernetes", "--repeats", "1", "--duration", "1",
                  "-o", "json", timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["settings"]["control_plane"] == "kubernetes"
    small, big = doc["rows"]
    for r in (small, big):
        assert r["implementation"] == "kube-proxy v1.36.3 (upstream, iptables mode)"
        assert r["program_seconds"] > 0 and r["crr_last"]["p50"]["median"] > 0
    # kube-proxy's own count (nat + filter): several rules per Service and endpoint
    assert big["rule_lines"] is None and small["rule_lines"] is None  # no renderer here
    assert big["rules"] - small["rules"] >= 55 * 4
    # first and last as a new connection meets them in node1's KUBE-SERVICES (kube-proxy's
    # Go map order), each with its rule position: 60 Services + default/kubernetes
    first, last = big["positions"]["first"], big["positions"]["last"]
    assert first["of"] == last["of"] == 61 and first["rule"] < last["rule"], big["positions"]
    assert first["service"].startswith("default/scale-") and first["service"] != last["service"]
