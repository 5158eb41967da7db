"""One Kubernetes lab shared by the tests that read it or add to it (each builds its own
objects): the upstream control plane reached from the host with kubectl, the nodes'
identities, a cluster read by `audit`/`proxy render --kubeconfig`, the knl-kubelets'
Pods, and — last, because it kills etcd and the API server — a Deployment whose pods keep
serving without them, and `lab down` of what is left. Destructive control-plane tests build their own labs
(test_kubernetes_control_plane.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenetlab.controlplane import upstream
from kubenetlab.kernel import netns
from kubenetlab.kernel.ledger import Ledger
from tests.lab.conftest import run_cli
from tests.lab.helpers import (
    kubeconfig_of,
    kubectl,
    kubectl_json,
    lab_exec,
    shared_lab,
    status,
)
from tests.schemas import validator

pytestmark = pytest.mark.lab
SHARED_LAB = True

NAME = "k8s-shared"
APPS = "apps"  # where the tests' own workloads go
SPEC = textwrap.dedent(f"""\
    name: {NAME}
    profile: vxlan
    control_plane: kubernetes
    proxy: iptables
    service_node_port_range: 31000-31999
    services:
      - {{name: web, type: NodePort, port: 80, target_port: 8080, replicas: 2}}
      - {{name: db, namespace: data, port: 5432}}
    """)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "k8s" / "web-deployment.yaml"
HTTP_GET = (
    "import sys, urllib.request; "
    "print(urllib.request.urlopen(f'http://{sys.argv[1]}:8080/', timeout=5).status)"
)


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    spec = tmp_path_factory.mktemp("k8s") / "lab.yaml"
    spec.write_text(SPEC)
    with shared_lab("-f", str(spec), "--name", NAME) as doc:
        ledger = Ledger.load(NAME)
        assert ledger is not None
        files = [Path(f.rstrip("/")) for f in ledger.files]
        assert any(f.name == "pki" for f in files) and all(f.exists() for f in files)
        yield doc
    # `lab down` of a lab whose etcd and API server were killed (the last test) leaves
    # nothing: certificates, etcd's data, logs; the host's forwarder port closed
    assert not any(f.exists() for f in files)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", doc["control_plane"]["kubernetes"]["host_port"]),
                                 timeout=1).close()  # fmt: skip


def wait_for(what: str, check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s"
        time.sleep(0.3)


def ready_pods(kubeconfig: str, selector: str) -> list[dict]:
    pods = kubectl_json(kubeconfig, "-n", APPS, "get", "pods", "-l", selector)["items"]
    return [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in p["status"].get("conditions", []))]  # fmt: skip


def _findings(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((f["id"], f["severity"], f["message"], f["fix"]) for f in doc["findings"])


def _token_kubeconfig(admin: str, token: str, out: Path) -> str:
    config = yaml.safe_load(Path(admin).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    out.write_text(yaml.safe_dump(config))
    return str(out)


def test_kubectl_from_the_host_sees_the_labs_api(k8s: dict[str, Any]) -> None:
    doc = k8s
    got = run_cli("lab", "kubeconfig", NAME)
    assert got.returncode == 0, got.stderr
    kubeconfig = got.stdout.strip()
    assert "127.0.0.1:" in Path(kubeconfig).read_text()  # the host's way in
    version = kubectl_json(kubeconfig, "version")
    assert version["serverVersion"]["gitVersion"] == upstream.KUBERNETES_VERSION
    assert kubectl(kubeconfig, "get", "--raw", "/readyz").stdout == "ok"

    # the `kubernetes` Service: the service CIDR's first address, the API on the fabric
    [svc] = kubectl_json(kubeconfig, "get", "svc", "-l", "component=apiserver")["items"]
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    api_ip = doc["control_plane"]["kubernetes"]["address"].split(":")[0]
    slices = kubectl_json(kubeconfig, "get", "endpointslices", "-n", "default")["items"]
    [k8s] = [s for s in slices if s["metadata"]["name"] == "kubernetes"]
    assert k8s["endpoints"][0]["addresses"] == [api_ip]

    # the spec's Services, as API objects, with the lab's addresses and pods
    web = kubectl_json(kubeconfig, "get", "svc", "web")
    lab_web = next(s for s in doc["services"] if s["name"] == "web")
    assert web["spec"]["clusterIP"] == lab_web["cluster_ip"]
    assert web["spec"]["ports"][0]["nodePort"] == lab_web["ports"][0]["node_port"]
    assert 31000 <= lab_web["ports"][0]["node_port"] <= 31999
    [web_slice] = [
        s for s in slices if s["metadata"]["labels"].get("kubernetes.io/service-name") == "web"
    ]
    assert sorted(a for e in web_slice["endpoints"] for a in e["addresses"]) == sorted(
        e["ip"] for e in lab_web["endpoints"]
    )
    assert (
        kubectl_json(kubeconfig, "get", "svc", "db", "-n", "data")["spec"]["ports"][0]["port"]
        == 5432
    )

    # what a user applies gets a ClusterIP from the lab's range; node ports follow the
    # range the lab gave the API server
    applied = kubectl(
        kubeconfig,
        "apply",
        "-f",
        "-",
        stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: mine}
        spec: {type: NodePort, selector: {app: mine}, ports: [{port: 80}]}
        """),
    )
    assert applied.returncode == 0, applied.stderr
    mine = kubectl_json(kubeconfig, "get", "svc", "mine")["spec"]
    assert mine["clusterIP"].startswith("10.") and 31000 <= mine["ports"][0]["nodePort"] <= 31999
    refused = kubectl(kubeconfig, "create", "service", "nodeport", "out", "--tcp=80",
                      "--node-port=30080")  # fmt: skip
    assert refused.returncode != 0 and "31000-31999" in refused.stderr

    # the status the table and -o json show
    api = doc["control_plane"]["kubernetes"]
    assert api["api"] == "ok" and api["version"] == upstream.KUBERNETES_VERSION
    assert all(api["processes"].values()) and not api["down"]


def test_nodes_reach_the_api_on_the_fabric_as_themselves(k8s: dict[str, Any]) -> None:
    """Each node's certificate is system:node:<name> in system:nodes: it reads Services
    but not RBAC; kube-proxy's identity may list EndpointSlices but not Secrets."""
    doc = k8s
    ledger = Ledger.load(NAME)
    assert ledger is not None
    pki_dir = ledger.state_dir / "pki"
    host = doc["control_plane"]["kubernetes"]["address"].split(":")[0]
    node1 = doc["nodes"][0]["netns"]

    def get(identity: str, path: str) -> int:
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / f"{identity}.crt"), str(pki_dir / f"{identity}.key"))
        with netns.inside(node1):
            conn = HTTPSConnection(host, 6443, timeout=5, context=ctx)
            conn.request("GET", path)
            code = conn.getresponse().status
            conn.close()
        return code

    assert get("node-node1", "/api/v1/services") == 200
    assert get("node-node1", "/apis/rbac.authorization.k8s.io/v1/clusterroles") == 403
    assert get("kube-proxy", "/apis/discovery.k8s.io/v1/endpointslices") == 200
    assert get("kube-proxy", "/api/v1/namespaces/default/secrets") == 403


def test_audit_and_render_read_the_cluster_as_they_read_its_dump(
    k8s: dict[str, Any], tmp_path: Path
) -> None:
    doc = k8s
    name = NAME
    kubeconfig = kubeconfig_of(name)
    dump = tmp_path / "dump.yaml"
    got = kubectl(kubeconfig, "get", "svc,endpointslices,nodes,deploy,sts,ds", "-A", "-o", "yaml")
    assert got.returncode == 0, got.stderr
    dump.write_text(got.stdout)

    # audit: the cluster as an input, and the findings of its dump, exactly
    live = run_cli("audit", "--kubeconfig", kubeconfig, "-o", "json")
    assert live.returncode in (0, 1), live.stderr
    from_api = json.loads(live.stdout)
    [source] = from_api["inputs"]
    assert source["kind"] == "cluster" and source["path"].startswith("cluster://")
    assert source["version"].startswith("v1.") and source["server"].startswith("https://127.0.0.1:")
    assert source["objects"]["Node"] == 2
    dumped = yaml.safe_load(dump.read_text())["items"]
    assert source["objects"]["Service"] == sum(o["kind"] == "Service" for o in dumped)
    assert source["objects"]["Service"] >= len(doc["services"]) + 1  # + default/kubernetes
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
    render = run_cli("proxy", "render", "--kubeconfig", kubeconfig, "--node", "node1", "-o", "json")
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


def test_assess_reads_the_live_cluster(k8s: dict[str, Any]) -> None:
    """assess --kubeconfig --plan: the lab's own API read with list/get only, the facts
    the same as kubectl sees, the lab recognised as the flannel stack it is."""
    kubeconfig = kubeconfig_of(NAME)
    got = run_cli("assess", "--kubeconfig", kubeconfig, "--plan", "-o", "json")
    assert got.returncode == 0, got.stderr
    detected = json.loads(got.stdout)["detected"]
    services = kubectl_json(kubeconfig, "get", "svc", "-A")["items"]
    assert detected["services"]["count"] == len(services)
    assert detected["source"] == f"cluster://knl-{NAME}"
    assert [n["name"] for n in detected["nodes"]] == ["node1", "node2"]
    assert detected["data_path"]["model"] == "flannel"
    facts = {f["name"]: f for f in detected["facts"]}
    sync = facts["kube-proxy minSyncPeriod"]  # the lab's kube-proxy ConfigMap, as kubeadm's
    assert sync["value"] == "1s" and sync["source"].endswith("minSyncPeriod")
    assert facts["endpoint churn (lifetime)"]["source"].endswith("to now")


def test_assess_replays_the_live_clusters_services_in_a_twin(k8s: dict[str, Any]) -> None:
    """assess --kubeconfig measured (no what-if: the twin alone): the lab's own Services,
    read live, replayed through a twin lab's API and measured by service-scale."""
    kubeconfig = kubeconfig_of(NAME)
    got = run_cli("assess", "--kubeconfig", kubeconfig, "--what-if", "", "--repeats", "1",
                  "--duration", "1", "--churn-seconds", "0", "-o", "json", timeout=600)  # fmt: skip
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    replay = doc["twin"]["replay"]
    live = {f"{s['metadata']['namespace']}/{s['metadata']['name']}"
            for s in kubectl_json(kubeconfig, "get", "svc", "-A")["items"]}  # fmt: skip
    assert replay["measured"][0] in live and replay["measured"][-1] in live
    assert replay["types"].get("NodePort", 0) >= 1  # web, at least
    assert any("default/kubernetes" in n for n in replay["notes"])
    [row] = doc["service_scale"]["rows"]
    assert row["services"] == replay["services"] and row["crr_last"]["p50"]["median"] > 0
    assert doc["churn"] is None and doc["ranking"] == []


def _knl_namespaces(kubeconfig: str) -> list[str]:
    got = kubectl_json(kubeconfig, "get", "namespaces", "-l",
                       "app.kubernetes.io/managed-by=kubenetlab")  # fmt: skip
    return [n["metadata"]["name"] for n in got["items"]]


@pytest.mark.serial  # alone: its figures are held to the lab's own bench
def test_compare_measures_the_cluster_through_its_api(k8s: dict[str, Any], tmp_path: Path) -> None:
    """compare --kubeconfig against the lab's API: pods on both nodes (their tools run as
    host programs by the lab's kubelets), the same tests and parsers as the lab's own
    compare, figures of the same order as the lab's own bench on the same path, the
    namespace gone afterwards — also after a SIGTERM mid-run."""
    doc = k8s
    kubeconfig = kubeconfig_of(NAME)
    base = ["compare", "--kubeconfig", kubeconfig, "--image", "python:3"]
    dry = run_cli(*base, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    kinds = [o["kind"] for o in yaml.safe_load_all(dry.stdout)]
    assert kinds == ["Namespace", "Pod", "Pod", "Pod", "Pod", "Service", "Service"]
    assert not _knl_namespaces(kubeconfig)  # nothing created

    out = run_cli(*base, "--tests", "rr,crr", "--repeats", "1", "--duration", "1",
                  "-o", "json", timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["kind"] == "compare"
    validator("compare.schema.json").validate(
        result
    )  # the lab's compare schema, cluster section included
    rows = {r["profile"]: r for r in result["rows"]}
    assert set(rows) == {"underlay", "cluster"} and all(r["measured"] for r in rows.values())
    pods = rows["cluster"]["results"]
    assert set(pods) == {"rr", "crr", "crr_service", "rr_nodeport"}
    assert pods["rr"]["tool"].startswith("sockperf") and pods["crr"]["tool"].startswith(
        "kubenetlab knl-rr"
    )
    for test in ("rr", "crr", "crr_service", "rr_nodeport"):
        assert pods[test]["estimates"]["p50"]["median"] > 0, test
    assert rows["underlay"]["results"]["rr"]["estimates"]["p50"]["median"] > 0
    cluster = result["cluster"]
    assert cluster["version"] == upstream.KUBERNETES_VERSION
    assert [n["name"] for n in cluster["nodes"]] == ["node1", "node2"]
    assert cluster["pod_mtu"] == doc["pod_mtu"]  # read inside the client pod
    assert cluster["kube_proxy"].startswith("iptables")
    # the lab's Nodes say what they are: vxlan + kube-proxy iptables is the flannel stack
    assert (cluster["cni"], cluster["model"]) == ("kubenetlab lab (vxlan)", "flannel")
    assert set(cluster["pinned"]) == {"server", "client", "host-server", "host-client"}
    assert all(pin.startswith("taskset -c ") for pin in cluster["pinned"].values())
    placement = pods["rr"]["placement"]
    assert placement["policy"] == "split" and placement["client_cpus"] == placement["server_cpus"]
    assert (placement["client_node"], placement["server_node"]) == ("node1", "node2")
    assert cluster["namespace_deleted"] and not _knl_namespaces(kubeconfig)

    # bench --kubeconfig: one path, compare's pods and parsers, a bench result — iperf3
    # through the ClusterIP (the Services carry every tool's port)
    bench = run_cli("bench", "--kubeconfig", kubeconfig, "--image", "python:3", "--path",
                    "clusterip", "--test", "stream", "--repeats", "1", "--duration", "1",
                    "-o", "json", timeout=300)  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    one = json.loads(bench.stdout)
    validator("bench-result.schema.json").validate(one)
    assert one["test"] == "stream" and "through the service proxy" in one["path"]
    assert one["dst"].endswith("/server-clusterip") and one["estimates"]["gbps"]["median"] > 0
    assert one["tool"].startswith("iperf3")
    assert one["cluster"]["namespace_deleted"] and not _knl_namespaces(kubeconfig)

    # the lab's own bench on the same kind of path (its spec pods, node1 → node2): figures
    # of the same order
    lab_run = run_cli("bench", NAME, "--from", "node1-pod1", "--to", "node2-pod1", "--test",
                      "rr", "--repeats", "2", "--duration", "1", "-o", "json")  # fmt: skip
    assert lab_run.returncode == 0, lab_run.stderr
    ours = json.loads(lab_run.stdout)["estimates"]["p50"]["median"]
    theirs = pods["rr"]["estimates"]["p50"]["median"]
    assert 0.5 < theirs / ours < 2, (theirs, ours)

    # SIGTERM mid-run (its pods being made ready): the run's namespace is deleted on the way out
    proc = subprocess.Popen([sys.executable, "-m", "kubenetlab", *base, "--tests", "stream",
                             "--duration", "5", "--repeats", "3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not _knl_namespaces(kubeconfig):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert not _knl_namespaces(kubeconfig)
    cleaned = run_cli("cluster", "clean", "--kubeconfig", kubeconfig, "-o", "json")
    assert cleaned.returncode == 0 and json.loads(cleaned.stdout)["deleted"] == []

    # one schedulable node (node2 cordoned): the rows are not measured, and say why
    assert kubectl(kubeconfig, "cordon", "node2").returncode == 0
    try:
        alone = run_cli(*base, "--tests", "rr", "-o", "json")
    finally:
        assert kubectl(kubeconfig, "uncordon", "node2").returncode == 0
    assert alone.returncode == 0, alone.stderr
    for row in json.loads(alone.stdout)["rows"]:
        assert not row["measured"] and "has 1 schedulable (node1)" in row["reason"]

    # credentials that may only read: every missing verb named, nothing created
    assert kubectl(kubeconfig, "create", "serviceaccount", "viewer").returncode == 0
    assert kubectl(kubeconfig, "create", "clusterrolebinding", "viewer", "--clusterrole=view",
                   "--serviceaccount=default:viewer").returncode == 0  # fmt: skip
    token = kubectl(kubeconfig, "create", "token", "viewer").stdout.strip()
    viewer = _token_kubeconfig(kubeconfig, token, tmp_path / "viewer")
    refused = run_cli("compare", "--kubeconfig", viewer)
    assert refused.returncode == 3, refused.stderr
    for verb in ("list nodes", "create namespaces", "create pods/exec"):
        assert verb in refused.stderr
    assert "kubectl create clusterrole knl-runner --verb=create,delete" in refused.stderr
    assert not _knl_namespaces(kubeconfig)


def test_host_network_and_a_missing_program(k8s: dict[str, Any]) -> None:
    doc = k8s
    kubeconfig = kubeconfig_of(NAME)
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


def test_a_deployment_runs_on_the_lab_nodes_with_logs_and_exec(k8s: dict[str, Any]) -> None:
    doc = k8s
    kubeconfig = kubeconfig_of(NAME)
    nodes = {n["metadata"]["name"]: n for n in kubectl_json(kubeconfig, "get", "nodes")["items"]}
    for n in doc["nodes"]:
        node = nodes[n["name"]]
        assert {"type": "InternalIP", "address": n["underlay_ip"]} in node["status"]["addresses"]
        assert node["spec"]["podCIDR"] == n["pod_cidr"]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
    leases = kubectl_json(kubeconfig, "get", "leases", "-n", "kube-node-lease")["items"]
    assert sorted(le["metadata"]["name"] for le in leases) == sorted(nodes)

    assert kubectl(kubeconfig, "create", "namespace", APPS).returncode == 0
    applied = kubectl(kubeconfig, "-n", APPS, "apply", "-f", str(EXAMPLE))
    assert applied.returncode == 0, applied.stderr
    pods = wait_for("3 ready replicas", lambda: (r := ready_pods(kubeconfig, "app=web"))
                    and len(r) == 3 and r)  # fmt: skip
    cidrs = {n["name"]: n["pod_cidr"] for n in doc["nodes"]}
    from ipaddress import ip_address, ip_network

    for p in pods:
        assert ip_address(p["status"]["podIP"]) in ip_network(cidrs[p["spec"]["nodeName"]])
    ips = sorted(p["status"]["podIP"] for p in pods)

    def slice_ips() -> list[str]:
        items = kubectl_json(kubeconfig, "-n", APPS, "get", "endpointslices", "-l",
                             "kubernetes.io/service-name=web")["items"]  # fmt: skip
        return sorted(a for s in items for e in s.get("endpoints") or []
                      if e["conditions"].get("ready") for a in e["addresses"])  # fmt: skip

    wait_for("the EndpointSlice lists the 3 pods", lambda: slice_ips() == ips)

    # the API's pods are on the lab's data path: a spec pod reaches each one over VXLAN
    for ip in ips:
        got = lab_exec(NAME, "node1-pod1", "python3", "-c", HTTP_GET, ip)
        assert got.stdout.strip() == "200", got.stderr

    name = pods[0]["metadata"]["name"]
    logs = kubectl(kubeconfig, "-n", APPS, "logs", name)
    assert logs.returncode == 0 and '"GET / HTTP/1.1" 200' in logs.stdout, logs.stderr
    addr = kubectl(
        kubeconfig, "-n", APPS, "exec", name, "--", "ip", "-o", "-4", "addr", "show", "knl-eth0"
    )
    assert pods[0]["status"]["podIP"] in addr.stdout, addr.stderr
    echoed = kubectl(
        kubeconfig, "-n", APPS, "exec", "-i", name, "--", "cat", stdin="through stdin\n"
    )
    assert echoed.stdout == "through stdin\n"
    failed = kubectl(kubeconfig, "-n", APPS, "exec", name, "--", "sh", "-c", "exit 7")
    assert failed.returncode == 7

    # deleting a pod ends its processes and removes its namespace
    ledger = Ledger.load(NAME)
    assert ledger is not None
    before = set(ledger.pod_netns())
    deleted = kubectl(kubeconfig, "-n", APPS, "delete", "pod", name, "--timeout=20s")
    assert deleted.returncode == 0, deleted.stderr
    gone = wait_for("the deleted pod's namespace removed",
                    lambda: [ns for ns in before if not netns.exists(ns)])  # fmt: skip
    assert len(gone) == 1

    # etcd gone: the API server stays up but is not ready, and status says so
    [etcd] = [p for p in ledger.processes if p.role == "etcd"]
    assert etcd.pid is not None
    os.kill(etcd.pid, signal.SIGKILL)
    time.sleep(0.5)
    api = status(NAME)["control_plane"]["kubernetes"]
    assert api["api"].startswith("not ready"), api
    assert api["processes"]["etcd"] is False and "etcd" in api["down"]
    # the API server gone too: the kubelets say so, the pods keep serving
    [apiserver] = [p for p in ledger.processes if p.role == "kube-apiserver"]
    assert apiserver.pid is not None
    os.kill(apiserver.pid, signal.SIGKILL)
    got = lab_exec(NAME, "node1-pod1", "python3", "-c", HTTP_GET, pods[1]["status"]["podIP"])
    assert got.stdout.strip() == "200", got.stderr
    after = status(NAME)["control_plane"]
    assert after["kubernetes"]["api"].startswith("unreachable")
    assert "kube-apiserver" in after["kubernetes"]["down"]
    kubelets = after["kubelets"]
    assert all(k["kubelet"] == "running" and "api_error" in k for k in kubelets), kubelets
    table = run_cli("lab", "status", NAME)
    assert "kube-apiserver" in table.stdout and "down" in table.stdout, table.stdout
