"""kube-proxy semantics the live comparison with the upstream kube-proxy found missing
(tests/lab/test_renderer_vs_kube_proxy.py): serving-terminating endpoints, internal
traffic policy Local, LoadBalancer source ranges holding the node's own IP, localhost
NodePorts without nfacct — and the lab's KubeProxyConfiguration."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubenetlab.controlplane import kubeproxy
from kubenetlab.errors import UsageError
from kubenetlab.kube.objects import parse_all
from kubenetlab.proxy import iptables, nftables
from kubenetlab.proxy.categorize import categorize
from kubenetlab.services import Endpoint, Service, ServicePort, read_kubernetes
from kubenetlab.spec import build_lab

CIDR = "10.244.0.0/16"
HTTP = (ServicePort("http", 80, 8080, "TCP"),)


def _svc(endpoints: tuple[Endpoint, ...], **kw: object) -> Service:
    return Service("ns", "web", "10.96.0.10", kw.pop("ports", HTTP), endpoints=endpoints, **kw)  # type: ignore[arg-type]


def test_serving_terminating_endpoints_carry_traffic_only_when_nothing_is_ready() -> None:
    leaving = Endpoint("10.244.0.2", "node1", ready=False, serving=True, terminating=True)
    gone = Endpoint("10.244.1.2", "node2", ready=False, serving=False, terminating=True)
    [p] = categorize([_svc((leaving, gone))], "node1")
    assert p.cluster_endpoints == (leaving,) and p.has_endpoints
    text = iptables.render([_svc((leaving, gone))], "node1", CIDR)
    assert "10.244.0.2:8080" in text and "has no endpoints" not in text
    # a ready endpoint anywhere wins over every terminating one
    ready = Endpoint("10.244.1.3", "node2")
    [p] = categorize([_svc((leaving, ready))], "node1")
    assert p.cluster_endpoints == (ready,)


def test_internal_traffic_policy_local_sends_cluster_ip_traffic_to_this_nodes_endpoints() -> None:
    here, there = Endpoint("10.244.0.2", "node1"), Endpoint("10.244.1.2", "node2")
    svc = _svc((here, there), internal_traffic_policy="Local")
    node1 = iptables.render([svc], "node1", CIDR)
    assert "-j KUBE-SVL-" in node1 and "KUBE-SVC-" not in node1
    assert "10.244.1.2" not in node1
    # a node without a local endpoint drops ClusterIP traffic (it does not reject it)
    lonely = iptables.render([_svc((there,), internal_traffic_policy="Local")], "node1", CIDR)
    assert '"ns/web:http has no local endpoints"' in lonely and "-j DROP" in lonely
    rs = nftables.rule_set([_svc((there,), internal_traffic_policy="Local")], "node1", (), CIDR)
    assert any(e.map == "no-endpoint-services" and e.value == "drop" for e in rs.elements)


def test_source_ranges_holding_the_node_ip_let_the_lb_ip_itself_in() -> None:
    svc = _svc((Endpoint("10.244.0.2", "node1"),), type="LoadBalancer",
               ports=(ServicePort("http", 80, 8080, "TCP", 30080),),
               load_balancer_ips=("198.18.1.20",), source_ranges=("198.18.0.0/24",))  # fmt: skip
    inside = iptables.render([svc], "node1", CIDR, node_ip="198.18.0.1")
    assert "-s 198.18.1.20 -j KUBE-EXT-" in inside
    outside = iptables.render([svc], "node1", CIDR, node_ip="198.19.0.1")
    assert "-s 198.18.1.20 -j" not in outside


def test_without_nfacct_there_are_no_localhost_node_ports() -> None:
    svc = _svc((Endpoint("10.244.0.2", "node1"),), type="NodePort",
               ports=(ServicePort("http", 80, 8080, "TCP", 30080),))  # fmt: skip
    assert "-d 127.0.0.0/8 --dport 30080" in iptables.render([svc], "node1", CIDR, nfacct=True)
    assert "127.0.0.0/8 --dport" not in iptables.render([svc], "node1", CIDR, nfacct=False)


def test_endpoint_slice_conditions_are_read_as_kube_proxy_reads_them() -> None:
    docs = [
        {"kind": "Service", "metadata": {"name": "web", "namespace": "ns"},
         "spec": {"clusterIP": "10.96.0.10", "internalTrafficPolicy": "Local",
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"kind": "EndpointSlice", "metadata": {"name": "web-1", "namespace": "ns",
                                               "labels": {"kubernetes.io/service-name": "web"}},
         "ports": [{"name": "http", "port": 8080}],
         "endpoints": [{"addresses": ["10.244.0.2"], "conditions": {"ready": False, "terminating": True}},
                       {"addresses": ["10.244.0.3"], "conditions": {}}]},
    ]  # fmt: skip
    [svc], gaps = read_kubernetes(parse_all(docs))
    assert gaps == [] and svc.internal_traffic_policy == "Local"
    leaving, plain = svc.endpoints
    # unset serving means serving; unset ready means ready; unset terminating means not
    assert leaving.serving_terminating and not leaving.ready
    assert plain.ready and not plain.terminating


def _lab(**kw: object):
    return build_lab({"control_plane": "kubernetes", "nodes": 2, **kw})


def test_the_labs_kube_proxy_never_writes_host_global_conntrack_sysctls() -> None:
    lab = _lab(proxy="nftables", proxy_options={"min_sync_period": "250ms"})
    config = kubeproxy.configuration(lab, lab.nodes[0], Path("kp.kubeconfig"))
    assert config["conntrack"]["maxPerCore"] == 0  # nf_conntrack_max and hashsize untouched
    assert config["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert config["mode"] == "nftables" and config["nftables"]["minSyncPeriod"] == "250ms"
    ip = str(lab.nodes[0].underlay_ip)
    assert config["metricsBindAddress"] == f"{ip}:10249"
    assert config["healthzBindAddress"] == f"{ip}:10256"
    assert kubeproxy.tool_links("legacy")["iptables-restore"] == "/usr/sbin/xtables-legacy-multi"
    assert kubeproxy.runs_upstream(lab)
    assert not kubeproxy.runs_upstream(_lab(proxy="ebpf"))
    assert _lab().proxy == "iptables"  # a Kubernetes lab runs kube-proxy, Services or not


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_sync_period": "soon"}, "must be a duration"),
        ({"lb_mode": "dsr"}, "unknown key 'lb_mode' in proxy_options of proxy iptables"),
    ],
)
def test_bad_kube_proxy_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _lab(proxy_options=options)
    with pytest.raises(UsageError, match="min_sync_period"):
        build_lab({"proxy_options": {"min_sync_period": "1s"}})  # the renderer has no sync loop


METRICS = """\
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.064"} 1
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.128"} 3
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} 3
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} 0.3
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 3
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 9
# TYPE kubeproxy_sync_full_proxy_rules_duration_seconds histogram
kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1
# TYPE kubeproxy_sync_partial_proxy_rules_duration_seconds histogram
kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09
# TYPE kubeproxy_sync_proxy_rules_endpoint_changes_total counter
kubeproxy_sync_proxy_rules_endpoint_changes_total 4
# TYPE kubeproxy_sync_proxy_rules_endpoint_changes_pending gauge
kubeproxy_sync_proxy_rules_endpoint_changes_pending 1
"""


def test_kube_proxy_metrics_are_read_for_ipv4_only() -> None:
    m = kubeproxy.parse_metrics(METRICS)
    assert (m.syncs, m.full, m.partial, m.endpoint_changes, m.pending) == (3, 1, 2, 4, 1)
    assert m.mean_seconds == pytest.approx(0.1) and m.last_timestamp == 1.7e9
    assert m.quantile(0.5) == 0.128 and m.quantile(0.3) == 0.064
    assert m.iptables_rules is None  # nftables mode: no rule count, none made up


def test_iptables_rule_counts_are_summed_over_nat_and_filter() -> None:
    m = kubeproxy.parse_metrics(
        METRICS
        + "# TYPE kubeproxy_sync_proxy_rules_iptables_total gauge\n"
        + 'kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="filter"} 4\n'
        + 'kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} 10\n'
        + 'kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv6",table="nat"} 99\n'
        + "# TYPE kubeproxy_sync_proxy_rules_iptables_last gauge\n"
        + 'kubeproxy_sync_proxy_rules_iptables_last{ip_family="IPv4",table="filter"} 1\n'
        + 'kubeproxy_sync_proxy_rules_iptables_last{ip_family="IPv4",table="nat"} 5\n'
    )
    assert (m.iptables_rules, m.iptables_rules_last_sync) == (14, 6)


def test_results_name_the_proxy_that_programmed_the_nodes() -> None:
    assert kubeproxy.implementation(_lab(proxy="nftables")) == (
        "kube-proxy v1.36.3 (upstream, nftables mode)"
    )
    assert "API agents" in str(kubeproxy.implementation(_lab(proxy="ebpf")))
    plain = build_lab({"services": [{"name": "web"}]})
    assert str(kubeproxy.implementation(plain)).startswith("kubenetlab renderer (iptables")
    assert kubeproxy.implementation(build_lab({})) is None
    # the eBPF proxy's API agents coalesce bursts too
    assert _lab(proxy="ebpf", proxy_options={"min_sync_period": "2s"}).proxy_options == {
        "min_sync_period": "2s"
    }


def test_compare_takes_the_kubernetes_control_plane_only() -> None:
    from kubenetlab.scenarios.compare import CompareSettings, _lab_for
    from kubenetlab.stacks import resolve

    with pytest.raises(UsageError, match="control plane must be kubernetes"):
        CompareSettings(profiles=("native",), control_plane="etcd")
    lab = _lab_for(resolve("flannel"), "kubernetes")
    assert lab.control_plane == "kubernetes" and kubeproxy.runs_upstream(lab)
    assert _lab_for(resolve("flannel")).control_plane is None
