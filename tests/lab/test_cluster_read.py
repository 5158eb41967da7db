"""Reading a live cluster (`audit --kubeconfig`, `proxy render --kubeconfig`) against the
real API server of a Kubernetes lab: the same findings and the same rules as from the same
objects dumped with kubectl, what the cluster's kube-proxy ConfigMap, Nodes and
ServiceCIDRs say used where no flag says otherwise, and credentials that may not read (or
are not accepted) ending with exit 3 and what to grant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab.conftest import run_cli
from tests.lab.helpers import kubeconfig_of, kubectl, lab

pytestmark = pytest.mark.lab

SPEC = ["-f", "examples/services.yaml", "--profile", "native", "--control-plane", "kubernetes",
        "--proxy", "iptables"]  # fmt: skip


def _findings(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((f["id"], f["severity"], f["message"], f["fix"]) for f in doc["findings"])


def _token_kubeconfig(admin: str, token: str, out: Path) -> str:
    config = yaml.safe_load(Path(admin).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    out.write_text(yaml.safe_dump(config))
    return str(out)


def test_audit_and_render_read_the_cluster_as_they_read_its_dump(tmp_path: Path) -> None:
    name = "t-cluster-read"
    with lab(*SPEC, "--name", name) as doc:
        kubeconfig = kubeconfig_of(name)
        dump = tmp_path / "dump.yaml"
        got = kubectl(
            kubeconfig, "get", "svc,endpointslices,nodes,deploy,sts,ds", "-A", "-o", "yaml"
        )
        assert got.returncode == 0, got.stderr
        dump.write_text(got.stdout)

        # audit: the cluster as an input, and the findings of its dump, exactly
        live = run_cli("audit", "--kubeconfig", kubeconfig, "-o", "json")
        assert live.returncode in (0, 1), live.stderr
        from_api = json.loads(live.stdout)
        [source] = from_api["inputs"]
        assert source["kind"] == "cluster" and source["path"].startswith("cluster://")
        assert source["version"].startswith("v1.") and source["server"].startswith(
            "https://127.0.0.1:"
        )
        assert source["objects"]["Node"] == 2
        assert source["objects"]["Service"] == len(doc["services"]) + 1  # + default/kubernetes
        facts = {f["name"]: f for f in source["facts"]}
        assert facts["kube-proxy mode"]["value"] == "iptables"
        assert facts["kube-proxy mode"]["source"].startswith("ConfigMap kube-system/kube-proxy")
        assert any("httproutes.gateway.networking.k8s.io: not served" in n for n in source["notes"])
        from_file = json.loads(run_cli("audit", str(dump), "-o", "json").stdout)
        assert _findings(from_api) and _findings(from_api) == _findings(from_file)
        assert all(f["file"].startswith(source["path"] + "/") for f in from_api["findings"])
        sarif = json.loads(run_cli("audit", "--kubeconfig", kubeconfig, "-o", "sarif").stdout)
        uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
                for r in sarif["runs"][0]["results"] for loc in r["locations"]}  # fmt: skip
        assert uris == {f["file"] for f in from_api["findings"]}

        # proxy render: what the flags leave unset comes from the cluster, and the rules
        # equal those rendered from the dump with the same values given by hand
        node1 = next(n for n in doc["nodes"] if n["name"] == "node1")
        render = run_cli(
            "proxy", "render", "--kubeconfig", kubeconfig, "--node", "node1", "-o", "json"
        )
        assert render.returncode == 0, render.stderr
        rendered = json.loads(render.stdout)
        assert rendered["proxy"] == "iptables" and rendered["node_ips"] == [node1["underlay_ip"]]
        assert rendered["cluster_cidr"] == doc["pod_cidr"]
        assert rendered["service_cidr"] == doc["service_cidr"]
        assert "--proxy iptables (kube-proxy's ConfigMap)" in render.stderr
        by_hand = run_cli("proxy", "render", "-f", str(dump), "--node", "node1", "--proxy", "iptables",
                          "--node-ip", node1["underlay_ip"], "--cluster-cidr", doc["pod_cidr"],
                          "--service-cidr", doc["service_cidr"])  # fmt: skip
        assert by_hand.returncode == 0, by_hand.stderr
        assert rendered["rules"] == by_hand.stdout and "KUBE-SVC-" in by_hand.stdout
        unknown = run_cli("proxy", "render", "--kubeconfig", kubeconfig, "--node", "node9")
        assert unknown.returncode == 2 and "no such Node" in unknown.stderr
        assert "(nodes: node1, node2)" in unknown.stderr

        # a service account with no role: every missing read named, and how to grant it
        assert kubectl(kubeconfig, "create", "serviceaccount", "reader").returncode == 0
        token = kubectl(kubeconfig, "create", "token", "reader")
        assert token.returncode == 0, token.stderr
        reader = _token_kubeconfig(kubeconfig, token.stdout.strip(), tmp_path / "reader")
        denied = run_cli("audit", "--kubeconfig", reader)
        assert denied.returncode == 3, denied.stderr
        for read in ("list services (all namespaces)", "list nodes",
                     "list endpointslices.discovery.k8s.io (all namespaces)",
                     "get configmaps cilium-config/kube-proxy in namespace kube-system"):  # fmt: skip
            assert read in denied.stderr
        assert "kubectl create clusterrole knl-reader --verb=list" in denied.stderr
        # credentials the API server does not accept
        bogus = _token_kubeconfig(kubeconfig, "not-a-token", tmp_path / "bogus")
        refused = run_cli("proxy", "render", "--kubeconfig", bogus, "--node", "node1")
        assert refused.returncode == 3 and "401 Unauthorized" in refused.stderr
        assert "Traceback" not in denied.stderr + refused.stderr
