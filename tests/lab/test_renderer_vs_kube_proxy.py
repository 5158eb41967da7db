"""kubenetlab's renderer held against the real kube-proxy, live: Services of every shape
the renderer knows are applied to a Kubernetes lab with kubectl; once each node's
upstream kube-proxy has synced them, what it wrote (iptables-save / nft list table in the
node) must equal what `kubenetlab proxy render` makes of the same objects read back from
the API — loaded into a node of a second, plain lab so the kernel lists both the same way.
Compared chain by chain and rule by rule with proxy/listing.py's normalisations only.

This keeps `proxy render` and `audit` (which need no cluster) honest."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kubenetlab.components.kubeproxy import metrics
from kubenetlab.live import attach
from kubenetlab.proxy import iptables as iptables_render
from kubenetlab.proxy import listing
from tests.lab.conftest import run_cli
from tests.lab.helpers import kubeconfig_of, kubectl, lab, lab_exec

pytestmark = pytest.mark.lab

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


def _wait_synced(name: str, since: float, seconds: float = 30) -> None:
    """Until every node's kube-proxy has synced after `since` with nothing pending."""
    nodes = attach(name).lab.nodes
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = [metrics(n) for n in nodes]
        if all(m.pending == 0 and m.last_timestamp > since for m in got):
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


@pytest.mark.parametrize("proxy", ["iptables", "nftables"])
def test_proxy_render_equals_what_kube_proxy_wrote(proxy: str, tmp_path: Path) -> None:
    assert iptables_render.NFACCT_LOCALHOST  # the renderer names the counters it loads above
    name, scratch = f"t-rvk-{proxy[:3]}", f"t-scr-{proxy[:3]}"
    spec = ["--nodes", "2", "--pods-per-node", "2", "--profile", "native"]
    with lab(*spec, "--name", name, "--control-plane", "kubernetes", "--proxy", proxy) as doc, \
            lab(*spec, "--name", scratch):  # fmt: skip
        kubeconfig = kubeconfig_of(name)
        manifest = tmp_path / "shapes.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _shapes(doc)}))
        applied = kubectl(kubeconfig, "apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr
        for svc, ip in LB_IPS.items():
            ingress = json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
            patched = kubectl(kubeconfig, "-n", "shapes", "patch", "svc", svc,
                              "--subresource=status", "--type=merge", "-p", ingress)  # fmt: skip
            assert patched.returncode == 0, patched.stderr
        _wait_synced(name, since=time.time())
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
