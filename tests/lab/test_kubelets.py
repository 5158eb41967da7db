"""The lab's nodes as Kubernetes sees them: a knl-kubelet (upstream virtual-kubelet with
kubenetlab's provider) per node; Pods as network namespaces wired like the lab's own,
their containers as host processes; `kubectl apply`, `logs`, `exec` from the host."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubenetlab.kernel import netns
from kubenetlab.kernel.ledger import Ledger
from tests.lab.helpers import kubeconfig_of, kubectl, kubectl_json, lab, lab_exec, status

pytestmark = pytest.mark.lab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "k8s" / "web-deployment.yaml"
HTTP_GET = (
    "import sys, urllib.request; "
    "print(urllib.request.urlopen(f'http://{sys.argv[1]}:8080/', timeout=5).status)"
)


def wait_for(what: str, check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s"
        time.sleep(0.3)


def ready_pods(kubeconfig: str, selector: str) -> list[dict]:
    pods = kubectl_json(kubeconfig, "get", "pods", "-l", selector)["items"]
    return [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in p["status"].get("conditions", []))]  # fmt: skip


def test_a_deployment_runs_on_the_lab_nodes_with_logs_and_exec() -> None:
    with lab("--name", "kbl", "--profile", "vxlan", "--control-plane", "kubernetes") as doc:
        kubeconfig = kubeconfig_of("kbl")
        nodes = {n["metadata"]["name"]: n for n in kubectl_json(kubeconfig, "get", "nodes")["items"]}
        for n in doc["nodes"]:
            node = nodes[n["name"]]
            assert {"type": "InternalIP", "address": n["underlay_ip"]} in node["status"]["addresses"]
            assert node["spec"]["podCIDR"] == n["pod_cidr"]
            ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
            assert ready[0]["status"] == "True"
        leases = kubectl_json(kubeconfig, "get", "leases", "-n", "kube-node-lease")["items"]
        assert sorted(le["metadata"]["name"] for le in leases) == sorted(nodes)

        applied = kubectl(kubeconfig, "apply", "-f", str(EXAMPLE))
        assert applied.returncode == 0, applied.stderr
        pods = wait_for("3 ready replicas", lambda: (r := ready_pods(kubeconfig, "app=web"))
                        and len(r) == 3 and r)  # fmt: skip
        cidrs = {n["name"]: n["pod_cidr"] for n in doc["nodes"]}
        from ipaddress import ip_address, ip_network

        for p in pods:
            assert ip_address(p["status"]["podIP"]) in ip_network(cidrs[p["spec"]["nodeName"]])
        ips = sorted(p["status"]["podIP"] for p in pods)

        def slice_ips() -> list[str]:
            items = kubectl_json(kubeconfig, "get", "endpointslices", "-l",
                                 "kubernetes.io/service-name=web")["items"]  # fmt: skip
            return sorted(a for s in items for e in s.get("endpoints") or []
                          if e["conditions"].get("ready") for a in e["addresses"])  # fmt: skip

        wait_for("the EndpointSlice lists the 3 pods", lambda: slice_ips() == ips)

        # the API's pods are on the lab's data path: a spec pod reaches each one over VXLAN
        for ip in ips:
            got = lab_exec("kbl", "node1-pod1", "python3", "-c", HTTP_GET, ip)
            assert got.stdout.strip() == "200", got.stderr

        name = pods[0]["metadata"]["name"]
        logs = kubectl(kubeconfig, "logs", name)
        assert logs.returncode == 0 and '"GET / HTTP/1.1" 200' in logs.stdout, logs.stderr
        addr = kubectl(kubeconfig, "exec", name, "--", "ip", "-o", "-4", "addr", "show", "knl-eth0")
        assert pods[0]["status"]["podIP"] in addr.stdout, addr.stderr
        echoed = kubectl(kubeconfig, "exec", "-i", name, "--", "cat", stdin="through stdin\n")
        assert echoed.stdout == "through stdin\n"
        failed = kubectl(kubeconfig, "exec", name, "--", "sh", "-c", "exit 7")
        assert failed.returncode == 7

        # deleting a pod ends its processes and removes its namespace
        ledger = Ledger.load("kbl")
        assert ledger is not None
        before = set(ledger.pod_netns())
        deleted = kubectl(kubeconfig, "delete", "pod", name, "--timeout=20s")
        assert deleted.returncode == 0, deleted.stderr
        gone = wait_for("the deleted pod's namespace removed",
                        lambda: [ns for ns in before if not netns.exists(ns)])  # fmt: skip
        assert len(gone) == 1

        # the API server gone: the kubelets say so, the pods keep serving
        [apiserver] = [p for p in ledger.processes if p.role == "kube-apiserver"]
        assert apiserver.pid is not None
        os.kill(apiserver.pid, signal.SIGKILL)
        got = lab_exec("kbl", "node1-pod1", "python3", "-c", HTTP_GET, pods[1]["status"]["podIP"])
        assert got.stdout.strip() == "200", got.stderr
        kubelets = status("kbl")["control_plane"]["kubelets"]
        assert all(k["kubelet"] == "running" and "api_error" in k for k in kubelets), kubelets


def test_host_network_and_a_missing_program() -> None:
    with lab("--name", "kbh", "--profile", "native", "--control-plane", "kubernetes") as doc:
        kubeconfig = kubeconfig_of("kbh")
        overrides = json.dumps({"spec": {"hostNetwork": True, "nodeName": "node2"}})
        run = kubectl(kubeconfig, "run", "hn", "--image=python:3", f"--overrides={overrides}",
                      "--command", "--", "sh", "-c", "ip -o -4 addr; sleep 300")  # fmt: skip
        assert run.returncode == 0, run.stderr
        node2_ip = doc["nodes"][1]["underlay_ip"]

        def logged() -> str:
            out = kubectl(kubeconfig, "logs", "hn")
            return out.stdout if out.returncode == 0 and node2_ip in out.stdout else ""

        assert "knl-up" in wait_for("the hostNetwork pod's log", logged)
        pod = kubectl_json(kubeconfig, "get", "pod", "hn")
        assert pod["status"]["podIP"] == node2_ip

        # an image without a map entry and a command that does not exist: the container fails
        # with the kubelet's reasons; the node stays Ready
        containers = [
            {"name": "nomap", "image": "registry.example/unknown:1"},
            {"name": "noprog", "image": "python:3", "command": ["no-such-program-knl"]},
        ]
        pod_spec = {"nodeName": "node1", "restartPolicy": "Never", "containers": containers}
        spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "broken"}, "spec": pod_spec}
        created = kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(spec))
        assert created.returncode == 0, created.stderr

        def terminated() -> dict:
            p = kubectl_json(kubeconfig, "get", "pod", "broken")
            states = {c["name"]: c["state"].get("terminated") for c in
                      p["status"].get("containerStatuses", [])}  # fmt: skip
            return states if states and all(states.values()) else {}

        states = wait_for("both containers terminated", terminated)
        assert states["nomap"]["reason"] == "StartError"
        assert "not in the lab's image map" in states["nomap"]["message"]
        assert states["noprog"]["reason"] == "StartError"
        assert "no-such-program-knl" in states["noprog"]["message"]
        assert kubectl_json(kubeconfig, "get", "pod", "broken")["status"]["phase"] == "Failed"
        node1 = kubectl_json(kubeconfig, "get", "node", "node1")
        ready = [c["status"] for c in node1["status"]["conditions"] if c["type"] == "Ready"]
        assert ready == ["True"]
