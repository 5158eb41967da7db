"""A cluster's data path from the objects that configure it — the manifests the CNIs
install (cilium-config, kube-flannel-cfg, calico-node's pool environment), kubeadm's
kube-proxy ConfigMap — and the lab stack that models it, or why none does."""

from __future__ import annotations

import json
from typing import Any

from kubenetlab.cluster.detect import detect


def ds(name: str, namespace: str = "kube-system", env: dict[str, str] | None = None) -> dict:
    container = {"name": name, "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    return {"kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [container]}}}}  # fmt: skip


def cm(name: str, data: dict[str, str], namespace: str = "kube-system") -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def kube_proxy_cm(mode: str) -> dict[str, Any]:
    conf = f"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: {mode!r}\n"
    return cm("kube-proxy", {"config.conf": conf})


def test_cilium_native_routing_replacing_kube_proxy_is_the_labs_cilium() -> None:
    config = cm("cilium-config", {"routing-mode": "native", "kube-proxy-replacement": "true",
                                  "ipv4-native-routing-cidr": "10.0.0.0/8"})  # fmt: skip
    path = detect([ds("cilium"), ds("cilium-envoy")], [config])
    assert (path.cni, path.model) == ("cilium", "cilium")
    assert path.kube_proxy.startswith(
        "replaced (ConfigMap kube-system/cilium-config: kube-proxy-replacement: true")
    sources = {f.name: f.source for f in path.facts}
    assert sources["CNI"] == "DaemonSet kube-system/cilium"
    assert sources["cilium routing-mode"] == "ConfigMap kube-system/cilium-config: routing-mode"
    dsr = cm("cilium-config", {**config["data"], "bpf-lb-mode": "dsr"})
    assert detect([ds("cilium")], [dsr]).model == "cilium-dsr"


def test_cilium_in_its_default_tunnel_mode_has_no_lab_stack_and_says_which_models_pods() -> None:
    path = detect([ds("cilium"), ds("kube-proxy")], [cm("cilium-config", {"routing-mode": "tunnel"}),
                                   kube_proxy_cm("iptables")])  # fmt: skip
    assert path.model is None and "tunnel mode (vxlan)" in path.model_reason
    assert path.kube_proxy == "iptables"  # kept: no replacement, its own ConfigMap says so
    assert detect([ds("cilium")], []).model is None  # no cilium-config: unknown, not guessed


def test_flannel_backends_and_kube_proxy_mode() -> None:
    net_conf = {"Network": "10.244.0.0/16", "EnableNFTables": False, "Backend": {"Type": "vxlan"}}
    flannel = cm("kube-flannel-cfg", {"net-conf.json": json.dumps(net_conf)}, "kube-flannel")
    path = detect([ds("kube-flannel-ds", "kube-flannel"), ds("kube-proxy")],
                  [flannel, kube_proxy_cm("")])  # fmt: skip
    assert (path.cni, path.kube_proxy, path.model) == ("flannel", "iptables", "flannel")
    nft = detect([ds("kube-flannel-ds"), ds("kube-proxy")], [flannel, kube_proxy_cm("nftables")])
    assert nft.model == "flannel" and "the cluster nftables" in nft.model_reason
    host_gw = cm("kube-flannel-cfg", {"net-conf.json": '{"Backend": {"Type": "host-gw"}}'})
    assert detect([ds("kube-flannel-ds")], [host_gw]).model == "native"
    unread = detect([ds("kube-flannel-ds")], [])
    assert unread.model is None and "kube-flannel-cfg not read" in unread.model_reason


def test_calico_pool_encapsulation_from_calico_nodes_environment() -> None:
    ipip = ds(
        "calico-node", env={"CALICO_IPV4POOL_IPIP": "Always", "CALICO_IPV4POOL_VXLAN": "Never"}
    )
    assert detect([ipip, ds("kube-proxy")], []).model == "calico-ipip"
    bgp = ds("calico-node", env={"CALICO_IPV4POOL_IPIP": "Never", "CALICO_IPV4POOL_VXLAN": "Never"})
    assert detect([bgp], []).model == "calico-bgp"
    path = detect([ds("calico-node")], [])
    assert path.model is None and "does not set" in path.model_reason


def test_what_cannot_be_read_is_unknown_with_the_reason() -> None:
    path = detect(None, [], "daemonsets in kube-system: 403")
    assert path.cni == "unknown (daemonsets in kube-system: 403)"
    assert path.kube_proxy == "unknown (daemonsets in kube-system: 403)"
    assert path.model is None
    lab = detect([], [kube_proxy_cm("nftables")])  # kubenetlab's own lab: no CNI DaemonSet
    assert lab.cni == "unknown (no known CNI DaemonSet)"
    assert lab.kube_proxy == "nftables (ConfigMap kube-system/kube-proxy; no kube-proxy DaemonSet)"
    assert detect([ds("weave-net")], []).model_reason == "CNI weave"


def test_a_kubenetlab_labs_nodes_name_its_stack() -> None:
    def node(routing: str, proxy: str) -> dict[str, Any]:
        return {"kind": "Node", "metadata": {"name": "node1", "labels": {
            "kubenetlab.io/routing": routing, "kubenetlab.io/proxy": proxy}}}  # fmt: skip

    flannel = detect([], [], nodes=[node("vxlan", "iptables")])
    assert (flannel.cni, flannel.kube_proxy, flannel.model) == ("kubenetlab lab (vxlan)",
                                                              "iptables", "flannel")  # fmt: skip
    assert flannel.facts[0].source == "Node node1 label kubenetlab.io/routing"
    assert detect([], [], nodes=[node("native", "nftables")]).model == "native+nftables"
    assert detect([], [], nodes=[node("native", "ebpf")]).model == "cilium"
    assert detect([], [], nodes=[node("native", "ebpf")]).kube_proxy == "replaced (ebpf)"
    assert detect([], [], nodes=[node("vxlan", "none")]).model == "vxlan"
    assert detect([], [], nodes=[{"kind": "Node", "metadata": {"name": "n"}}]).cni.startswith(
        "unknown")  # fmt: skip
