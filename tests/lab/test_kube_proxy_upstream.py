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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubenetlab.components.kubeproxy import metrics
from kubenetlab.controlplane import upstream
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.live import attach
from kubenetlab.proxy import iptables as iptables_render
from kubenetlab.proxy import listing
from tests.lab.conftest import run_cli
from tests.lab.helpers import (
    HEALTH,
    ask,
    kubeconfig_of,
    kubectl,
    kubectl_apply,
    lab,
    lab_exec,
    lands_only_on,
    shared_lab,
    status,
    web_slice,
)

pytestmark = pytest.mark.lab
SHARED_LAB = True  # one lab per proxy mode, shared by the tests below in order

SPEC = ["-f", "examples/services.yaml", "--profile", "native", "--control-plane", "kubernetes"]
WEB_PODS = {"node1-pod1", "node2-pod1", "node1-pod2"}  # examples/services.yaml's spread


@pytest.fixture(scope="module", params=["iptables", "nftables", "iptables-legacy"])
def ukp(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(proxy, lab name, lab status) of a Kubernetes lab whose nodes run kube-proxy."""
    proxy = request.param
    name = f"t-ukp-{proxy}"[:20]
    with shared_lab(*SPEC, "--name", name, "--proxy", proxy) as doc:
        yield proxy, name, doc


def test_upstream_kube_proxy_carries_the_labs_services(
    ukp: tuple[str, str, dict[str, Any]], tmp_path: Path
) -> None:
    proxy, name, doc = ukp
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


LB_IPS = {"lb-local": "198.18.1.20", "lb-cluster": "198.18.1.21"}


def _shapes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Services without selectors and their EndpointSlices, on the lab's pod IPs: every
    shape the renderer renders."""
    pods = {p["name"]: (p["ip"], p["node"]) for p in doc["pods"]}

    def ep(pod: str, **conditions: bool) -> dict[str, Any]:
        ip, node = pods[pod]
        return {"addresses": [ip], "nodeName": node, "conditions": {"ready": True, **conditions}}

    def svc(name: str, spec: dict, endpoints: list, ports: list | None = None) -> list[dict]:
        ports = ports or [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        return [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": name, "namespace": "shapes"}, "spec": {"ports": ports, **spec}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": f"{name}-1", "namespace": "shapes", "labels": {
                 "kubernetes.io/service-name": name,
                 "endpointslice.kubernetes.io/managed-by": "shapes-test"}},
             "addressType": "IPv4",
             "ports": [{"name": p["name"], "port": p["targetPort"], "protocol": p["protocol"]}
                       for p in ports],
             "endpoints": endpoints},
        ]  # fmt: skip

    dns = [{"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"},
           {"name": "dns-tcp", "port": 53, "targetPort": 5353, "protocol": "TCP"}]  # fmt: skip
    web = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
           {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shapes"}},
        *svc("cip", {}, [ep("node1-pod1"), ep("node1-pod2"), ep("node2-pod1")]),
        *svc("np-cluster", {"type": "NodePort"}, [ep("node1-pod1"), ep("node2-pod1")]),
        *svc("np-local", {"type": "NodePort", "externalTrafficPolicy": "Local"},
             [ep("node1-pod1")]),
        *svc("lb-local", {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                          "loadBalancerSourceRanges": ["198.18.0.0/24"]},
             [ep("node1-pod2"), ep("node2-pod2")]),
        *svc("lb-cluster", {"type": "LoadBalancer", "sessionAffinity": "ClientIP"},
             [ep("node2-pod2")]),
        *svc("ext-ip", {"externalIPs": ["198.18.1.10"]}, [ep("node2-pod1")]),
        *svc("affinity", {"sessionAffinity": "ClientIP",
                          "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}},
             [ep("node1-pod1"), ep("node2-pod2")]),
        *svc("itp-local", {"internalTrafficPolicy": "Local"}, [ep("node1-pod1"), ep("node2-pod1")]),
        *svc("empty", {"type": "NodePort"}, []),
        *svc("terminating", {"type": "NodePort"},
             [ep("node1-pod1", ready=False, serving=True, terminating=True),
              ep("node2-pod1", ready=False, serving=False, terminating=True)]),
        *svc("multi", {}, [ep("node1-pod2"), ep("node2-pod2")], ports=web),
        *svc("dns", {}, [ep("node1-pod1"), ep("node2-pod1")], ports=dns),
        *svc("sctp", {}, [ep("node2-pod2")],
             ports=[{"name": "s", "port": 9000, "targetPort": 9000, "protocol": "SCTP"}]),
    ]  # fmt: skip


def _wait_synced(name: str, since: float, listing: tuple[str, ...], shows: str,
                 seconds: float = 60) -> None:  # fmt: skip
    """Until every node's kube-proxy has synced after `since` (taken before the last change
    was sent) with nothing pending, and every node's `listing` shows `shows` (the last
    change: a sync may start before kube-proxy has received it)."""
    nodes = attach(name).lab.nodes
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = [metrics(n) for n in nodes]
        if all(m.pending == 0 and m.last_timestamp > since for m in got) and all(
            shows in lab_exec(name, n.name, *listing).stdout for n in nodes
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"kube-proxy did not sync in {seconds} s")


LIST = {
    "iptables": (("iptables-nft-save",), listing.iptables_chains),
    "nftables": (("nft", "list", "table", "ip", "kube-proxy"), listing.nft_objects),
}


def _load(scratch: str, node: str, proxy: str, rendered: str) -> None:
    if proxy == "iptables":  # the counters kube-proxy's rules name exist before the load
        for counter in ("localhost_nps_accepted_pkts", "ct_state_invalid_dropped_pkts"):
            lab_exec(scratch, node, "nfacct", "add", counter)
        argv = ["iptables-nft-restore"]
    else:
        argv = ["nft", "-f", "-"]
    out = run_cli("lab", "exec", scratch, node, "--", *argv, input=rendered)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("ukp", ["iptables", "nftables"], indirect=True)
def test_proxy_render_equals_what_kube_proxy_wrote(
    ukp: tuple[str, str, dict[str, Any]], tmp_path: Path
) -> None:
    """kubenetlab's renderer held against the real kube-proxy, live: Services of every
    shape the renderer knows are applied with kubectl; once each node's kube-proxy has
    synced them, what it wrote (iptables-save / nft list table in the node) must equal what
    `kubenetlab proxy render` makes of the same objects read back from the API — loaded
    into a node of a second, plain lab so the kernel lists both the same way. Compared
    chain by chain and rule by rule with proxy/listing.py's normalisations only. This keeps
    `proxy render` and `audit` (which need no cluster) honest."""
    assert iptables_render.NFACCT_LOCALHOST  # the renderer names the counters it loads above
    proxy, name, doc = ukp
    scratch = f"t-scr-{proxy[:3]}"
    with lab("--nodes", "2", "--pods-per-node", "1", "--profile", "native", "--name", scratch):
        kubeconfig = kubeconfig_of(name)
        manifest = tmp_path / "shapes.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _shapes(doc)}))
        applied = kubectl(kubeconfig, "apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr
        since = time.time()  # before the last change is sent: a sync after it counts
        for svc, ip in LB_IPS.items():
            ingress = json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
            patched = kubectl(kubeconfig, "-n", "shapes", "patch", "svc", svc,
                              "--subresource=status", "--type=merge", "-p", ingress)  # fmt: skip
            assert patched.returncode == 0, patched.stderr
        _wait_synced(name, since, LIST[proxy][0], LB_IPS["lb-cluster"])
        dump = tmp_path / "dump.yaml"
        got = kubectl(kubeconfig, "get", "svc,endpointslices", "-A", "-o", "yaml")
        assert got.returncode == 0, got.stderr
        dump.write_text(got.stdout)

        argv, parse = LIST[proxy]
        for node in doc["nodes"]:
            render = run_cli("proxy", "render", "-f", str(dump), "--node", node["name"],
                             "--node-ip", node["underlay_ip"], "--proxy", proxy)  # fmt: skip
            assert render.returncode == 0, render.stderr
            _load(scratch, node["name"], proxy, render.stdout)
            live = lab_exec(name, node["name"], *argv)
            mine = lab_exec(scratch, node["name"], *argv)
            assert live.returncode == 0 and mine.returncode == 0, live.stderr + mine.stderr
            assert LB_IPS["lb-cluster"] in live.stdout  # kube-proxy has the last change
            theirs, ours = parse(live.stdout), parse(mine.stdout)
            assert len(theirs) > 30  # every shape's chains (sets, maps) are there to compare
            differences = listing.compare(theirs, ours)
            assert not differences, f"{node['name']}:\n" + "\n".join(
                d.describe() for d in differences
            )


@pytest.mark.parametrize("ukp", ["nftables"], indirect=True)
def test_compare_measures_a_native_lab_as_a_cluster(ukp: tuple[str, str, dict[str, Any]]) -> None:
    """compare --kubeconfig on a native-routing lab whose nodes run kube-proxy in nftables
    mode: recognised as that stack, pod → pod and node → NodePort measured, nothing left."""
    _, name, _ = ukp
    kubeconfig = kubeconfig_of(name)
    got = run_cli("compare", "--kubeconfig", kubeconfig, "--image", "python:3", "--tests", "rr",
                  "--repeats", "1", "--duration", "1", "-o", "json", timeout=300)  # fmt: skip
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    cluster = doc["cluster"]
    assert (cluster["model"], cluster["kube_proxy"]) == ("native+nftables", "nftables")
    rows = {r["profile"]: r for r in doc["rows"]}
    assert set(rows["cluster"]["results"]) == {"rr", "rr_nodeport"}
    assert rows["cluster"]["results"]["rr_nodeport"]["estimates"]["p50"]["median"] > 0
    assert cluster["namespace_deleted"]
    left = kubectl(kubeconfig, "get", "ns", "-l", "app.kubernetes.io/managed-by=kubenetlab",
                   "-o", "name")  # fmt: skip
    assert left.returncode == 0 and not left.stdout.strip()


@pytest.mark.parametrize("ukp", ["iptables"], indirect=True)
def test_a_dead_kube_proxy_shows_in_status_and_traffic_keeps_its_rules(
    ukp: tuple[str, str, dict[str, Any]],
) -> None:
    """Last on its lab: it kills node1's kube-proxy."""
    _, name, doc = ukp
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
