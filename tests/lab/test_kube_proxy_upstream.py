"""The upstream kube-proxy on every node of a Kubernetes lab (`--control-plane kubernetes`
with iptables, iptables-legacy or nftables): real traffic through the rules it wrote from
what the lab's API holds, its own health checks, changes made with kubectl, and an API
server that stops answering."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from kubenetlab.controlplane import upstream
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.live import attach
from tests.lab.conftest import run_cli
from tests.lab.helpers import (
    HEALTH,
    ask,
    kubeconfig_of,
    kubectl_apply,
    lab,
    lab_exec,
    lands_only_on,
    status,
    web_slice,
)

pytestmark = pytest.mark.lab

SPEC = ["-f", "examples/services.yaml", "--profile", "native", "--control-plane", "kubernetes"]
WEB_PODS = {"node1-pod1", "node2-pod1", "node1-pod2"}  # examples/services.yaml's spread


@pytest.mark.parametrize("proxy", ["iptables", "nftables", "iptables-legacy"])
def test_upstream_kube_proxy_carries_the_labs_services(proxy: str, tmp_path: Path) -> None:
    name = f"t-ukp-{proxy}"[:20]
    with lab(*SPEC, "--name", name, "--proxy", proxy) as doc:
        rows = {r["node"]: r for r in doc["control_plane"]["kube_proxy"]}
        assert set(rows) == {"node1", "node2"}
        mode = "nftables" if proxy == "nftables" else "iptables"
        for row in rows.values():  # its own metrics: running, the mode asked for, synced
            assert row["running"] and row["mode"] == mode and row["syncs"] >= 1
            assert row["version"] == upstream.KUBERNETES_VERSION
        roles = {p["role"] for p in doc["processes"]}
        assert "kube-proxy" in roles and "healthcheck" not in roles  # it serves its own
        ledger = Ledger.load(name)
        assert ledger is not None
        config = (ledger.state_dir / "kube-proxy-node1.yaml").read_text()
        assert "maxPerCore: 0" in config  # never the host-global nf_conntrack_max

        svcs = {s["name"]: s for s in doc["services"]}
        web, pay = svcs["web"]["cluster_ip"], svcs["payments"]
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}
        client = doc["client"]["ip"]

        # ClusterIP: spread over the 3 endpoints the API lists.
        assert {who for who, *_ in ask(name, "node2-pod2", web, 80, n=30)} == WEB_PODS
        # LoadBalancer with externalTrafficPolicy Local, at its node port: the client's own
        # IP on the endpoint's node; dropped on the other.
        [[who, seen]] = ask(name, "client", nodes["node2"], pay["ports"][0]["node_port"])
        assert who == "node2-pod2" and seen.split(":")[0] == client
        node_port = pay["ports"][0]["node_port"]
        assert ask(name, "client", nodes["node1"], node_port, timeout=1.5) == [["TimeoutError"]]
        # kube-proxy's health-check node port: 200 with a local endpoint, 503 without.
        for node, code, count in (("node2", 200, 1), ("node1", 503, 0)):
            out = lab_exec(name, "client", sys.executable, "-c", HEALTH, nodes[node],
                           str(pay["health_check_node_port"]))  # fmt: skip
            got = json.loads(out.stdout)
            assert got["status"] == code and got["body"]["localEndpoints"] == count
            assert got["body"]["service"] == {"namespace": "fintech-prod", "name": "payments"}

        # An endpoint change made with kubectl reaches every node's rules.
        kubeconfig = kubeconfig_of(name)
        kubectl_apply(kubeconfig, tmp_path, web_slice(doc, ["node2-pod1"]))
        lands_only_on(name, web, "node2-pod1")

        # The API server stops answering: the rules stay, traffic flows; when it answers
        # again, kube-proxy's watches resume and a change reaches the data path.
        [api] = [p for p in ledger.processes if p.role == "kube-apiserver"]
        os.kill(api.pid, signal.SIGSTOP)
        try:
            assert {who for who, *_ in ask(name, "node1-pod1", web, 80, n=5)} == {"node2-pod1"}
        finally:
            os.kill(api.pid, signal.SIGCONT)
        kubectl_apply(kubeconfig, tmp_path, web_slice(doc, ["node1-pod2"]))
        lands_only_on(name, web, "node1-pod2", seconds=40)

        # The lab's own endpoint moves go through the API too, and report kube-proxy's syncs.
        synced = attach(name).set_endpoints("web", ["node1-pod1"])
        assert set(synced) == {"node1", "node2"}
        assert all(s.changed >= 1 and s.mode in ("full", "delta") for s in synced.values())
        lands_only_on(name, web, "node1-pod1", seconds=2)


def test_a_dead_kube_proxy_shows_in_status_and_traffic_keeps_its_rules() -> None:
    name = "t-ukp-dead"
    with lab(*SPEC, "--name", name) as doc:
        ledger = Ledger.load(name)
        assert ledger is not None
        node1 = next(n for n in doc["nodes"] if n["name"] == "node1")
        [kp] = [p for p in ledger.processes if p.role == "kube-proxy" and p.netns == node1["netns"]]
        os.kill(kp.pid, signal.SIGKILL)
        time.sleep(0.3)
        rows = {r["node"]: r for r in status(name)["control_plane"]["kube_proxy"]}
        assert rows["node1"]["running"] is False and rows["node1"]["last_log_line"]
        assert rows["node2"]["running"] is True
        table = run_cli("lab", "status", name)
        assert table.returncode == 0 and "down" in table.stdout
        # the kernel keeps what it wrote: the ClusterIP still answers through node1
        web = next(s for s in doc["services"] if s["name"] == "web")["cluster_ip"]
        assert {who for who, *_ in ask(name, "node1-pod1", web, 80, n=10)} <= WEB_PODS
