"""The eBPF proxy on a Kubernetes lab, fed by the API: each node's agent lists and watches
Services and EndpointSlices from the lab's API server and writes the node's BPF maps;
real traffic through socket LB and tc, changes made with kubectl, bursts coalesced, the
API server gone quiet, and a field it cannot program named."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kubenetlab.kernel.ledger import Ledger
from tests.lab.helpers import (
    ask,
    kubeconfig_of,
    kubectl,
    kubectl_apply,
    lab,
    lands_only_on,
    status,
    web_slice,
)

pytestmark = pytest.mark.lab

SPEC = ["-f", "examples/services.yaml", "--profile", "native", "--control-plane", "kubernetes",
        "--proxy", "ebpf"]  # fmt: skip
WEB_PODS = {"node1-pod1", "node2-pod1", "node1-pod2"}


def _agents(name: str) -> dict[str, dict]:
    return {r["node"]: r for r in status(name)["control_plane"]["proxy_agents"]}


def test_the_ebpf_proxy_follows_the_api(tmp_path: Path) -> None:
    name = "t-ebpf-api"
    with lab(*SPEC, "--name", name) as doc:
        agents = _agents(name)
        assert set(agents) == {"node1", "node2"}
        for row in agents.values():
            assert row["running"] and row["api"] == "ok" and row["syncs"] >= 1
            assert row["applied_rv"] > 0 and row["last_sync"]["mode"] == "full"
        assert "kube-proxy" not in {p["role"] for p in doc["processes"]}
        svcs = {s["name"]: s for s in doc["services"]}
        web, pay = svcs["web"]["cluster_ip"], svcs["payments"]
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}

        # socket LB spreads ClusterIP connections over the 3 endpoints the API lists;
        # tc keeps the client's IP for the Local LoadBalancer's node port on its node
        assert {who for who, *_ in ask(name, "node2-pod2", web, 80, n=30)} == WEB_PODS
        [[who, seen]] = ask(name, "client", nodes["node2"], pay["ports"][0]["node_port"])
        assert who == "node2-pod2" and seen.split(":")[0] == doc["client"]["ip"]

        # a kubectl change reaches the maps
        kubeconfig = kubeconfig_of(name)
        kubectl_apply(kubeconfig, tmp_path, web_slice(doc, ["node2-pod1"]))
        lands_only_on(name, web, "node2-pod1")

        # a burst of 8 changes costs fewer map updates than changes (minSyncPeriod 1 s)
        before = {n: r["syncs"] for n, r in _agents(name).items()}
        order = ["node1-pod1", "node2-pod1", "node1-pod2"]
        for i in range(8):
            kubectl_apply(kubeconfig, tmp_path, web_slice(doc, [order[i % 3]]))
        lands_only_on(name, web, order[7 % 3])
        time.sleep(1.2)
        for node, row in _agents(name).items():
            assert 1 <= row["syncs"] - before[node] < 8, row

        # the API server stops answering: the maps stay, traffic flows; then it answers
        ledger = Ledger.load(name)
        assert ledger is not None
        [api] = [p for p in ledger.processes if p.role == "kube-apiserver"]
        os.kill(api.pid, signal.SIGSTOP)
        try:
            assert {who for who, *_ in ask(name, "node1-pod1", web, 80, n=5)} == {order[7 % 3]}
        finally:
            os.kill(api.pid, signal.SIGCONT)
        kubectl_apply(kubeconfig, tmp_path, web_slice(doc, ["node1-pod1"]))
        lands_only_on(name, web, "node1-pod1", seconds=40)

        # a field this proxy does not program is named in lab status, not dropped silently
        kubectl_apply(kubeconfig, tmp_path, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "fenced", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["198.18.0.0/24"],
                     "ports": [{"port": 80, "targetPort": 8080}]},
        })  # fmt: skip
        deadline = time.monotonic() + 10
        while not any("default/fenced" in g for g in _agents(name)["node1"].get("unsupported", [])):
            assert time.monotonic() < deadline, _agents(name)["node1"]
            time.sleep(0.2)

        # an API Pod's processes are socket-LB'd as the lab's own pods are: from inside a
        # Deployment's pod (kubectl exec), its own Service's ClusterIP answers
        kubectl_apply(kubeconfig, tmp_path, {"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo"},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "echo"}},
                      "template": {"metadata": {"labels": {"app": "echo"}}, "spec": {
                          "containers": [{"name": "web", "image": "python:3",
                                          "args": ["-m", "http.server", "8080"],
                                          "readinessProbe": {"tcpSocket": {"port": 8080},
                                                             "periodSeconds": 1}}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
             "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        ]})  # fmt: skip
        ready = kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod", "-l", "app=echo",
                        "--timeout=60s")  # fmt: skip
        assert ready.returncode == 0, ready.stderr
        ip = kubectl(kubeconfig, "get", "svc", "echo", "-o", "jsonpath={.spec.clusterIP}").stdout
        pod = kubectl(kubeconfig, "get", "pod", "-l", "app=echo", "-o",
                      "jsonpath={.items[0].metadata.name}").stdout  # fmt: skip
        deadline = time.monotonic() + 15
        while True:  # until the agents have the controller's EndpointSlice
            got = kubectl(kubeconfig, "exec", pod, "--", "python3", "-c",
                          f"import urllib.request as u; print(u.urlopen('http://{ip}/', "
                          "timeout=2).status)")  # fmt: skip
            if got.returncode == 0 and got.stdout.strip() == "200":
                break
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.5)
