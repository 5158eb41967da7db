"""What a cluster's ConfigMaps say about its data path: kube-proxy's configuration (the
`config.conf` key kubeadm writes) and Cilium's `cilium-config`. Each fact names where it
came from; a fact the ConfigMap does not hold is absent, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

KUBE_PROXY_KEY = "config.conf"  # kubeadm's kube-proxy ConfigMap holds the file under this key
# cilium-config keys that decide the data path (the agent's flag names).
CILIUM_KEYS = (
    "routing-mode", "tunnel-protocol", "tunnel", "kube-proxy-replacement", "bpf-lb-mode",
    "enable-ipv4-masquerade", "enable-bpf-masquerade", "ipv4-native-routing-cidr",
    "auto-direct-node-routes", "mtu", "cluster-pool-ipv4-cidr",
)  # fmt: skip


@dataclass(frozen=True)
class Fact:
    name: str
    value: str
    source: str  # e.g. "ConfigMap kube-system/kube-proxy config.conf: mode"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value, "source": self.source}


def kube_proxy(config_map: dict[str, Any]) -> list[Fact]:
    """mode (empty means iptables on Linux, as kube-proxy defaults it), clusterCIDR,
    minSyncPeriod, from the KubeProxyConfiguration in the ConfigMap."""
    where = _where(config_map)
    text = (config_map.get("data") or {}).get(KUBE_PROXY_KEY)
    if not isinstance(text, str):
        return []
    try:
        conf = yaml.safe_load(text)
    except yaml.YAMLError:
        return [Fact("kube-proxy config", "unreadable YAML", f"{where} {KUBE_PROXY_KEY}")]
    if not isinstance(conf, dict):
        return []
    unset = "" if conf.get("mode") else " (unset: iptables)"
    facts = [
        Fact("kube-proxy mode", str(conf.get("mode") or "iptables"),
             f"{where} {KUBE_PROXY_KEY}: mode{unset}")
    ]  # fmt: skip
    if conf.get("clusterCIDR"):
        facts.append(Fact("kube-proxy clusterCIDR", str(conf["clusterCIDR"]),
                          f"{where} {KUBE_PROXY_KEY}: clusterCIDR"))  # fmt: skip
    # top-level since v1.32; before, and still read, under the mode's own section
    mode = str(conf.get("mode") or "iptables").replace("iptables-legacy", "iptables")
    section = conf.get(mode) if isinstance(conf.get(mode), dict) else {}
    for key, found in (("minSyncPeriod", conf.get("minSyncPeriod")),
                       (f"{mode}.minSyncPeriod", section.get("minSyncPeriod"))):  # fmt: skip
        if found:
            facts.append(Fact("kube-proxy minSyncPeriod", str(found),
                              f"{where} {KUBE_PROXY_KEY}: {key}"))  # fmt: skip
            break
    return facts


def cilium(config_map: dict[str, Any]) -> list[Fact]:
    where = _where(config_map)
    data = config_map.get("data") or {}
    return [
        Fact(f"cilium {key}", str(data[key]), f"{where}: {key}")
        for key in CILIUM_KEYS
        if key in data
    ]


# Cilium's Helm values that the chart writes into cilium-config, as (values path, key).
CILIUM_VALUES = (
    ("routingMode", "routing-mode"), ("tunnelProtocol", "tunnel-protocol"), ("tunnel", "tunnel"),
    ("kubeProxyReplacement", "kube-proxy-replacement"), ("loadBalancer.mode", "bpf-lb-mode"),
    ("bpf.masquerade", "enable-bpf-masquerade"), ("ipv4NativeRoutingCIDR", "ipv4-native-routing-cidr"),
    ("autoDirectNodeRoutes", "auto-direct-node-routes"), ("MTU", "mtu"),
)  # fmt: skip


def cilium_values(values: dict[str, Any], where: str) -> list[Fact]:
    """The cilium-config facts Helm values set (`where`: "Helm values FILE" or the
    command), named as the ConfigMap's so both read alike; unset values are absent."""
    facts = []
    for path, key in CILIUM_VALUES:
        found: Any = values
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None or found == "":
            continue
        text = str(found).lower() if isinstance(found, bool) else str(found)
        facts.append(Fact(f"cilium {key}", text, f"{where}: {path}"))
    return facts


def facts_of(config_map: dict[str, Any]) -> list[Fact]:
    name = (config_map.get("metadata") or {}).get("name")
    return kube_proxy(config_map) if name == "kube-proxy" else cilium(config_map)


def value(facts: list[Fact], name: str) -> str | None:
    return next((f.value for f in facts if f.name == name), None)


def _where(config_map: dict[str, Any]) -> str:
    meta = config_map.get("metadata") or {}
    return f"ConfigMap {meta.get('namespace', '')}/{meta.get('name', '')}"
