"""Never stricter than Kubernetes: what a cluster admits, kubenetlab reads; what the API
server would refuse, kubenetlab refuses or reports per object (issue 23, items 1, 2 and 4)."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from kubenetlab.errors import UsageError
from kubenetlab.kube.objects import parse_all
from kubenetlab.services import from_spec, read_kubernetes
from kubenetlab.spec import build_lab

PODS = [("node1-pod1", "node1", "10.244.0.2"), ("node2-pod1", "node2", "10.244.1.2")]
CIDR = IPv4Network("10.96.0.0/12")


def _svc(name: str, spec: dict, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}  # fmt: skip


def _slice(svc: str, addresses: list[str], name: str = "s1") -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": name, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": svc}},
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": [a], "nodeName": "node1"} for a in addresses],
    }  # fmt: skip


def _render(tmp_path: Path, docs: list[dict], *flags: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "in.yaml"
    path.write_text("\n---\n".join(json.dumps(d) for d in docs))
    return subprocess.run(
        [sys.executable, "-m", "kubenetlab", "proxy", "render", "-f", str(path), "--node", "node1", *flags],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


NODE_PORT_3001 = _svc("np", {
    "type": "NodePort", "clusterIP": "172.30.0.41",
    "ports": [{"name": "p80", "port": 80, "targetPort": 8080, "nodePort": 3001}],
})  # fmt: skip


@pytest.mark.parametrize("proxy", ["iptables", "nftables"])
def test_render_accepts_a_node_port_outside_the_default_range(tmp_path: Path, proxy: str) -> None:
    # kube-proxy's own TestOverallIPTablesRules vectors use nodePort 3001
    out = _render(tmp_path, [NODE_PORT_3001, _slice("np", ["10.180.0.1"])],
                  "--proxy", proxy, "--node-ip", "192.168.0.2")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "3001" in out.stdout


def test_lab_spec_node_port_range_is_the_api_servers() -> None:
    spec = {"services": [{"name": "web", "type": "NodePort", "node_port": 3001}]}
    with pytest.raises(UsageError, match="outside service_node_port_range 30000-32767"):
        build_lab(spec)
    lab = build_lab({**spec, "service_node_port_range": "3000-3100"})
    assert lab.services[0].ports[0].node_port == 3001
    assert lab.to_dict()["service_node_port_range"] == "3000-3100"
    # allocated ports follow the range too
    auto = build_lab(
        {
            "service_node_port_range": "5000-5010",
            "services": [{"name": "a", "type": "LoadBalancer", "external_traffic_policy": "Local"}],
        }
    )
    port = auto.services[0].ports[0]
    assert 5000 <= port.node_port <= 5010
    assert 5000 <= auto.services[0].health_check_node_port <= 5010


@pytest.mark.parametrize("bad", ["30000", "2-1", "0-100", "1-70000", "a-b", True, "30000-"])
def test_bad_node_port_ranges_are_refused(bad: object) -> None:
    if bad == "30000":  # a single port is a valid range of one
        assert build_lab({"service_node_port_range": bad}).node_port_range == (30000, 30000)
        return
    with pytest.raises(UsageError, match="service_node_port_range must be LOW-HIGH"):
        build_lab({"service_node_port_range": bad})


def test_a_full_node_port_range_is_an_error_not_a_hang() -> None:
    with pytest.raises(UsageError, match="every node port in 5000-5001 is taken"):
        build_lab(
            {
                "service_node_port_range": "5000-5001",
                "services": [{"name": n, "type": "NodePort"} for n in ("a", "b", "c")],
            }
        )


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"type": "ExternalName", "externalName": "example.org"}, "ExternalName"),
        ({"clusterIP": "None", "ports": [{"port": 80}]}, "headless"),
    ],
)
def test_headless_and_external_name_are_skipped_with_their_reason(spec: dict, reason: str) -> None:
    docs = [_svc("odd", spec), _svc("ok", {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]})]
    services, gaps = read_kubernetes(parse_all(docs))
    assert [s.name for s in services] == ["ok"]
    assert [g.service for g in gaps] == ["default/odd"]
    assert reason in gaps[0].reason
    if reason == "ExternalName":
        assert "headless" not in gaps[0].reason


def test_a_duplicate_service_is_reported_and_the_first_rendered() -> None:
    first = _svc("web", {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]})
    second = _svc("web", {"clusterIP": "10.96.0.6", "ports": [{"port": 80}]})
    other_ns = _svc("web", {"clusterIP": "10.96.0.7", "ports": [{"port": 80}]}, ns="prod")
    services, gaps = read_kubernetes(parse_all([first, second, other_ns]))
    assert [(s.key, s.cluster_ip) for s in services] == [
        ("default/web", "10.96.0.5"),
        ("prod/web", "10.96.0.7"),
    ]
    assert [(g.service, g.field) for g in gaps] == [("default/web", "metadata.name")]


@pytest.mark.parametrize(
    "addr", ["0.0.0.0", "255.255.255.255", "127.0.0.1", "169.254.1.1", "224.0.0.5"]
)
def test_odd_endpoint_addresses_are_reported_per_endpoint(addr: str) -> None:
    svc = _svc("web", {"clusterIP": "10.96.0.5", "ports": [{"name": "http", "port": 80}]})
    [service], gaps = read_kubernetes(parse_all([svc, _slice("web", ["10.244.0.9", addr])]))
    assert [e.ip for e in service.endpoints] == ["10.244.0.9"]
    assert len(gaps) == 1 and addr in gaps[0].reason
    assert gaps[0].field == "EndpointSlice s1 endpoints[1]"


def test_odd_endpoint_is_a_warning_on_render_not_a_rule(tmp_path: Path) -> None:
    svc = _svc("web", {"clusterIP": "10.96.0.5", "ports": [{"name": "http", "port": 80}]})
    out = _render(tmp_path, [svc, _slice("web", ["10.244.0.9", "127.0.0.1"])])
    assert out.returncode == 0, out.stderr
    assert "127.0.0.1: loopback address" in out.stderr
    assert "127.0.0.1" not in out.stdout and "10.244.0.9" in out.stdout


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--node-ip", "a b;c"), ("--node-ip", "10.0.0.1/24"), ("--cluster-cidr", "10.0.0.0/99"),
     ("--service-cidr", "x;drop")],
)  # fmt: skip
def test_values_that_reach_rules_are_validated(tmp_path: Path, flag: str, value: str) -> None:
    out = _render(tmp_path, [NODE_PORT_3001], flag, value)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and flag in out.stderr


def test_cidr_with_host_bits_is_accepted_like_go_parse_cidr(tmp_path: Path) -> None:
    out = _render(tmp_path, [NODE_PORT_3001], "--cluster-cidr", "10.244.0.1/16")
    assert out.returncode == 0, out.stderr


def test_cluster_ips_stay_inside_a_small_service_cidr() -> None:
    small = IPv4Network("10.96.0.0/28")  # 14 hosts; .1 is the kubernetes Service's
    svcs = from_spec([{"name": f"s{i}", "pods": ["node1-pod1"]} for i in range(10)], PODS, small)
    ips = [s.cluster_ip for s in svcs]
    assert len(set(ips)) == 10
    assert all(IPv4Network(f"{ip}/32").subnet_of(small) for ip in ips)
    assert "10.96.0.1" not in ips and "10.96.0.15" not in ips and "10.96.0.0" not in ips
    with pytest.raises(UsageError, match="13 ClusterIPs"):
        from_spec([{"name": f"s{i}"} for i in range(14)], PODS, small)
    # the usual range keeps the lab's habit of .10 onwards
    assert from_spec([{"name": "a"}], PODS, CIDR)[0].cluster_ip == "10.96.0.10"


def test_a_pod_listed_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="listed twice"):
        from_spec([{"name": "web", "pods": ["node1-pod1", "node1-pod1"]}], PODS, CIDR)


def test_health_check_node_port_with_etp_cluster_is_refused() -> None:
    with pytest.raises(UsageError, match="needs type LoadBalancer and external_traffic_policy"):
        from_spec([{"name": "web", "type": "LoadBalancer", "health_check_node_port": 32000}],
                  PODS, CIDR)  # fmt: skip


def test_health_check_node_port_belongs_to_load_balancers_only() -> None:
    # kube-apiserver: "may only be set when `type` is 'LoadBalancer' and
    # `externalTrafficPolicy` is 'Local'"; kube-proxy serves none for a NodePort Service
    [svc] = from_spec([{"name": "web", "type": "NodePort", "external_traffic_policy": "Local"}],
                      PODS, CIDR)  # fmt: skip
    assert svc.health_check_node_port is None
    with pytest.raises(UsageError, match="needs type LoadBalancer"):
        from_spec([{"name": "web", "type": "NodePort", "external_traffic_policy": "Local",
                    "health_check_node_port": 32000}], PODS, CIDR)  # fmt: skip
