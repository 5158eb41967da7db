"""What a cluster's data path is, from the objects that configure it: the CNI from the
DaemonSets in kube-system, its mode from its own configuration (cilium-config,
kube-flannel-cfg, calico-node's pool settings), kube-proxy's mode from its ConfigMap — and
the lab stack that models that data path, if one does. Pure: live reads and dumps give
the same objects. Every fact names its source; what the objects do not say is "unknown"
with the reason, never a guess."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubenetlab.kube.dataplane_config import Fact, cilium, kube_proxy, value
from kubenetlab.kube.labels import PROXY_LABEL, ROUTING_LABEL

# DaemonSets (in kube-system or the CNI's own namespace) that name the CNI: the first wins.
CNI_DAEMONSETS = (
    ("cilium", "cilium"), ("calico-node", "calico"), ("kube-flannel", "flannel"),
    ("weave-net", "weave"), ("kube-router", "kube-router"), ("antrea-agent", "antrea"),
)  # fmt: skip
FLANNEL_CONFIG = "kube-flannel-cfg"  # its net-conf.json names the backend
CALICO_POOL_ENV = ("CALICO_IPV4POOL_IPIP", "CALICO_IPV4POOL_VXLAN")
TRUE = ("true", "strict")  # kube-proxy-replacement values that replace kube-proxy


@dataclass(frozen=True)
class DataPath:
    cni: str  # cilium, calico, flannel, …, or "unknown (why)"
    kube_proxy: str  # its mode, "replaced (…)" or "unknown (why)"
    model: str | None  # the lab stack (compare --profiles NAME) that models it
    model_reason: str  # why that stack, or why none
    facts: tuple[Fact, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cni": self.cni, "kube_proxy": self.kube_proxy, "model": self.model,
                "model_reason": self.model_reason,
                "facts": [f.to_dict() for f in self.facts]}  # fmt: skip


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', 'object')} {meta.get('namespace', '')}/{meta.get('name', '')}"


def cni_fact(daemonsets: list[dict[str, Any]] | None, why_unread: str = "") -> Fact:
    if daemonsets is None:
        return Fact("CNI", f"unknown ({why_unread or 'DaemonSets not read'})", "")
    for prefix, cni in CNI_DAEMONSETS:
        for ds in daemonsets:
            if _name(ds).startswith(prefix):
                return Fact("CNI", cni, _where(ds))
    return Fact("CNI", "unknown (no known CNI DaemonSet)", "DaemonSets")


def flannel_facts(config_map: dict[str, Any]) -> list[Fact]:
    text = (config_map.get("data") or {}).get("net-conf.json")
    where = f"{_where(config_map)} net-conf.json"
    try:
        conf = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return [Fact("flannel backend", "unknown (unreadable net-conf.json)", where)]
    backend = (conf or {}).get("Backend") or {}
    if not isinstance(backend, dict) or not backend.get("Type"):
        return [Fact("flannel backend", "vxlan", f"{where}: Backend.Type (unset: vxlan)")]
    return [Fact("flannel backend", str(backend["Type"]).lower(), f"{where}: Backend.Type")]


def calico_facts(daemonset: dict[str, Any]) -> list[Fact]:
    """The default IP pool's encapsulation as calico-node's environment sets it at install
    (the IPPool resource may have been changed since; the source says so)."""
    containers = ((daemonset.get("spec") or {}).get("template") or {}).get("spec", {})
    facts = []
    for container in containers.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") in CALICO_POOL_ENV and "value" in env:
                facts.append(Fact(f"calico {env['name']}", str(env["value"]),
                                  f"{_where(daemonset)} env {env['name']} (the default "
                                  "IPPool at install)"))  # fmt: skip
    return facts


def detect(
    daemonsets: list[dict[str, Any]] | None,
    config_maps: list[dict[str, Any]],
    why_unread: str = "",
    nodes: list[dict[str, Any]] | None = None,
    helm_values: list[Fact] | None = None,
) -> DataPath:
    """The data path of a cluster from its kube-system DaemonSets (None: not readable, with
    `why_unread`), the ConfigMaps read (kube-proxy, cilium-config, kube-flannel-cfg), its
    Nodes (a kubenetlab lab's say what they are) and Cilium's Helm values when given
    (dataplane_config.cilium_values): they fill in what cilium-config does not say, and
    name Cilium as the CNI when no DaemonSet could; where both say a key and differ, the
    running ConfigMap is used and the value is kept beside it, marked."""
    by_name = {_name(c): c for c in config_maps}
    proxy_facts = kube_proxy(by_name["kube-proxy"]) if "kube-proxy" in by_name else []
    lab = _lab_node(nodes or [])
    if lab is not None:  # its kube-proxy's configuration still says how it syncs
        return DataPath(lab.cni, lab.kube_proxy, lab.model, lab.model_reason,
                        (*lab.facts, *proxy_facts))  # fmt: skip
    cni = cni_fact(daemonsets, why_unread)
    if helm_values and cni.value.startswith("unknown"):
        cni = Fact("CNI", "cilium", helm_values[0].source.rsplit(": ", 1)[0])  # the values' file
    facts = [cni, *proxy_facts]
    if cni.value == "cilium":
        running = cilium(by_name["cilium-config"]) if "cilium-config" in by_name else []
        facts += running
        said = {f.name: f.value for f in running}
        for f in helm_values or []:
            if f.name not in said:
                facts.append(f)
            elif said[f.name] != f.value:
                facts.append(Fact(f"{f.name} (Helm values, not running)", f.value,
                                  f"{f.source}; cilium-config says {said[f.name]}"))  # fmt: skip
    if cni.value == "flannel" and FLANNEL_CONFIG in by_name:
        facts += flannel_facts(by_name[FLANNEL_CONFIG])
    if cni.value == "calico":
        facts += calico_facts(next(d for d in daemonsets or [] if cni.source == _where(d)))
    proxy = _kube_proxy_mode(daemonsets, by_name, facts, why_unread)
    model, reason = _model(cni.value, proxy, facts)
    return DataPath(cni.value, proxy, model, reason, tuple(facts))


def _lab_node(nodes: list[dict[str, Any]]) -> DataPath | None:
    """A kubenetlab lab: its Nodes' labels name the routing profile and the proxy, and the
    lab stack is the named one made of those two (else the routing profile alone)."""
    from kubenetlab.stacks import NAMED_STACKS

    node = next((n for n in nodes if ROUTING_LABEL in _labels(n)), None)
    if node is None:
        return None
    labels = _labels(node)
    routing, proxy = labels[ROUTING_LABEL], labels.get(PROXY_LABEL, "none")
    where = f"Node {_name(node)} label"
    facts = (Fact("CNI", f"kubenetlab lab ({routing})", f"{where} {ROUTING_LABEL}"),
             Fact("service proxy", proxy, f"{where} {PROXY_LABEL}"))  # fmt: skip
    named = next((s.name for s in NAMED_STACKS.values()
                  if (s.routing, s.proxy) == (routing, proxy) and not s.proxy_options), None)  # fmt: skip
    model = named or (f"{routing}+{proxy}" if proxy != "none" else routing)
    reason = f"routing {routing} with proxy {proxy}"
    mode = proxy if proxy in ("iptables", "iptables-legacy", "nftables") else (
        f"replaced ({proxy})" if proxy != "none" else "none")  # fmt: skip
    return DataPath(facts[0].value, mode, model, reason, facts)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _kube_proxy_mode(daemonsets: list[dict[str, Any]] | None, by_name: dict[str, Any],
                     facts: list[Fact], why_unread: str) -> str:  # fmt: skip
    replaced = value(facts, "cilium kube-proxy-replacement")
    if replaced in TRUE:
        where = next(f.source for f in facts if f.name == "cilium kube-proxy-replacement")
        return f"replaced ({where}: {replaced})"
    running = daemonsets is not None and any(_name(d).startswith("kube-proxy") for d in daemonsets)
    mode = value(facts, "kube-proxy mode")
    if mode:
        return mode if running or daemonsets is None else (
            f"{mode} (ConfigMap kube-system/kube-proxy; no kube-proxy DaemonSet)")  # fmt: skip
    if running:
        return "running (no ConfigMap kube-system/kube-proxy to read its mode from)"
    if daemonsets is None:
        return f"unknown ({why_unread or 'DaemonSets not read'})"
    return "replaced (no kube-proxy DaemonSet or ConfigMap)"


def _model(cni: str, proxy: str, facts: list[Fact]) -> tuple[str | None, str]:
    """The lab stack for this CNI and mode, or None and why."""
    mode = proxy.split()[0]
    if cni == "cilium":
        routing = value(facts, "cilium routing-mode") or (
            "native" if value(facts, "cilium tunnel") == "disabled" else None)  # fmt: skip
        if routing is None:
            return None, "cilium-config not read or without routing-mode: tunnel or native?"
        if routing != "native":
            protocol = value(facts, "cilium tunnel-protocol") or "vxlan"
            return None, (f"Cilium in {routing} mode ({protocol}): the lab's cilium stacks route "
                          "natively; `vxlan` models its pod → pod path")  # fmt: skip
        if mode != "replaced":
            return None, "Cilium with kube-proxy kept: the lab's cilium stacks replace it"
        dsr = value(facts, "cilium bpf-lb-mode") == "dsr"
        return ("cilium-dsr" if dsr else "cilium"), (
            "cilium-config: routing-mode native, kube-proxy-replacement"
            + (", bpf-lb-mode dsr" if dsr else ""))  # fmt: skip
    if cni == "flannel":
        backend = value(facts, "flannel backend")
        if backend is None:
            return None, f"ConfigMap {FLANNEL_CONFIG} not read: flannel's backend is unknown"
        if backend == "host-gw":
            return "native", "flannel host-gw: direct routes between nodes"
        if backend != "vxlan":
            return None, f"flannel backend {backend}: no lab stack models it"
        return "flannel", "flannel backend vxlan" + _proxy_caveat(mode)
    if cni == "calico":
        ipip, vxlan = (value(facts, f"calico {k}") for k in CALICO_POOL_ENV)
        if ipip is None and vxlan is None:
            return None, "calico-node's environment does not set the pool's encapsulation"
        if (ipip or "Never") != "Never":
            return "calico-ipip", f"calico IPIP {ipip}" + _proxy_caveat(mode)
        if (vxlan or "Never") != "Never":
            return "vxlan", f"calico VXLAN {vxlan} (pod → pod only)"
        return "calico-bgp", "calico without encapsulation (BGP routes)" + _proxy_caveat(mode)
    return None, f"CNI {cni}"


def _proxy_caveat(mode: str) -> str:
    return "" if mode in ("iptables", "unknown") else (
        f"; the lab's stack runs kube-proxy iptables, the cluster {mode}")  # fmt: skip
