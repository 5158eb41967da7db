"""The upstream kube-proxy of a lab node: its KubeProxyConfiguration, the iptables tools it
is given, and what its own metrics say about its syncs. Pure here; running it is
components/kubeproxy.py.

The configuration is kind's and kubeadm's, with what a lab must add: its servers on the
node's own fabric address, node ports where kube-proxy puts them by default (what
kubenetlab's renderer models, so the two can be compared), and no conntrack sysctl at all —
`maxPerCore: 0` keeps kube-proxy off the host-global nf_conntrack_max and the module's
hashsize, the zero timeouts leave the namespace's own values alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenetlab import yamlout
from kubenetlab.errors import UsageError
from kubenetlab.model import Lab, Node

METRICS_PORT = 10249
HEALTHZ_PORT = 10256
DEFAULT_MIN_SYNC_PERIOD = "1s"
SYNC_PERIOD = "30s"

# --proxy → (kube-proxy's mode, the iptables family its `iptables` is)
MODES: dict[str, tuple[str, str | None]] = {
    "iptables": ("iptables", "nft"),
    "iptables-legacy": ("iptables", "legacy"),
    "nftables": ("nftables", None),
}
IPTABLES_TOOLS = ("iptables", "iptables-save", "iptables-restore",
                  "ip6tables", "ip6tables-save", "ip6tables-restore")  # fmt: skip
DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def runs_upstream(lab: Lab) -> bool:
    """Does this lab's nodes run the upstream kube-proxy (rather than the renderer)?"""
    return lab.control_plane == "kubernetes" and (lab.proxy or "iptables") in MODES


def implementation(lab: Lab) -> str | None:
    """Which service proxy programs the lab's nodes, as results record it."""
    from kubenetlab.controlplane.upstream import KUBERNETES_VERSION

    if lab.proxy is None:
        return None
    if runs_upstream(lab):
        return (
            f"kube-proxy {KUBERNETES_VERSION} (upstream, {MODES[lab.proxy or 'iptables'][0]} mode)"
        )
    if lab.proxy == "ebpf":
        fed = "its API agents" if lab.control_plane == "kubernetes" else "kubenetlab"
        return f"kubenetlab eBPF proxy (maps written by {fed})"
    return f"kubenetlab renderer ({lab.proxy}, rules equal to kube-proxy {KUBERNETES_VERSION}'s)"


def duration_seconds(duration: str) -> float:
    """A Go duration ("1m30s", "500ms": what min_sync_period takes) in seconds."""
    pairs = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", duration)
    return sum(float(n) * _UNITS[unit] for n, unit in pairs)


def min_sync_period(value: Any) -> str:
    """kube-proxy's minSyncPeriod as a Go duration ("1s", "500ms", "1m30s"); exit 2 else."""
    text = str(value).strip()
    if not DURATION.match(text):
        raise UsageError(f"min_sync_period must be a duration such as 1s or 500ms, not {value!r}")
    return text


def configuration(lab: Lab, node: Node, kubeconfig: Path) -> dict[str, Any]:
    mode, _family = MODES[lab.proxy or "iptables"]
    periods = {
        "syncPeriod": SYNC_PERIOD,
        "minSyncPeriod": lab.proxy_options.get("min_sync_period", DEFAULT_MIN_SYNC_PERIOD),
    }
    ip = str(node.underlay_ip)
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": mode,
        "hostnameOverride": node.name,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "clusterCIDR": str(lab.pod_cidr),
        "bindAddress": ip,
        "healthzBindAddress": f"{ip}:{HEALTHZ_PORT}",
        "metricsBindAddress": f"{ip}:{METRICS_PORT}",
        "oomScoreAdj": 0,  # a lab process: no OOM protection over the host's own
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
        "iptables": {**periods, "masqueradeAll": False},
        "nftables": dict(periods),
        "logging": {"format": "text"},
    }


CONFIG_MAP_KEY = "config.conf"  # kubeadm's key for the configuration file


def config_map(lab: Lab) -> dict[str, Any]:
    """kube-system/kube-proxy as kubeadm writes it: the cluster-wide configuration (every
    node's file is this plus its own name and addresses), so tools that read a cluster's
    kube-proxy mode and clusterCIDR from the API find them in a lab too."""
    shared = configuration(lab, lab.nodes[0], Path("/var/lib/kube-proxy/kubeconfig.conf"))
    for per_node in ("hostnameOverride", "bindAddress", "healthzBindAddress", "metricsBindAddress"):
        shared.pop(per_node)
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                     "labels": {"app": "kube-proxy"}},
        "data": {CONFIG_MAP_KEY: yamlout.dump(shared)},
    }  # fmt: skip


def tool_links(family: str | None) -> dict[str, str]:
    """`iptables` & co. for kube-proxy's PATH: the family the lab asked for, whatever the
    host's alternatives say (xtables-*-multi decide by the name they are called as)."""
    if family is None:
        return {}
    return {tool: f"/usr/sbin/xtables-{family}-multi" for tool in IPTABLES_TOOLS}


@dataclass(frozen=True)
class SyncMetrics:
    """kube-proxy's own account of its syncs (its /metrics), in one node."""

    syncs: int  # kubeproxy_sync_proxy_rules_duration_seconds_count
    seconds_total: float  # ..._sum
    full: int  # kubeproxy_sync_full_proxy_rules_duration_seconds_count
    partial: int  # kubeproxy_sync_partial_proxy_rules_duration_seconds_count
    last_timestamp: float  # kubeproxy_sync_proxy_rules_last_timestamp_seconds (unix)
    endpoint_changes: int  # kubeproxy_sync_proxy_rules_endpoint_changes_total
    service_changes: int  # kubeproxy_sync_proxy_rules_service_changes_total
    pending: int  # endpoint + service changes not yet synced
    duration_buckets: tuple[tuple[float, int], ...]  # (le, cumulative count)
    # kubeproxy_network_programming_duration_seconds: from an EndpointSlice's
    # last-change-trigger-time to its rules written (ClusterLoader2's definition)
    programming_buckets: tuple[tuple[float, int], ...] = ()
    programming_count: int = 0
    full_seconds_total: float = 0.0
    partial_seconds_total: float = 0.0
    # iptables mode only (nftables mode exports no rule count): rules in the nat and filter
    # tables (..._iptables_total) and rules written by the last sync (..._iptables_last)
    iptables_rules: int | None = None
    iptables_rules_last_sync: int | None = None

    @property
    def mean_seconds(self) -> float | None:
        return self.seconds_total / self.syncs if self.syncs else None

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile q (Prometheus' buckets)."""
        if not self.syncs:
            return None
        rank = q * self.syncs
        for le, count in self.duration_buckets:
            if count >= rank:
                return le
        return None

    def since(self, before: SyncMetrics) -> tuple[int, float, str]:
        """(syncs, mean seconds, "full"/"partial"/"none") between two readings."""
        n = self.syncs - before.syncs
        mean = (self.seconds_total - before.seconds_total) / n if n else 0.0
        kind = "full" if self.full > before.full else "partial" if n else "none"
        return n, mean, kind


IPTABLES_RULE_COUNTS = (
    "kubeproxy_sync_proxy_rules_iptables_total",
    "kubeproxy_sync_proxy_rules_iptables_last",
)


def parse_metrics(text: str) -> SyncMetrics:
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    buckets: list[tuple[float, int]] = []
    programming: list[tuple[float, int]] = []
    per_table: dict[str, int] = {}  # ..._iptables_total / _last, summed over tables
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels = sample.name, dict(sample.labels)
            if labels.pop("ip_family", "IPv4") != "IPv4":  # the lab is IPv4
                continue
            if name == "kubeproxy_sync_proxy_rules_duration_seconds_bucket":
                buckets.append((float(labels["le"]), int(sample.value)))
            elif name == "kubeproxy_network_programming_duration_seconds_bucket":
                programming.append((float(labels["le"]), int(sample.value)))
            elif name in IPTABLES_RULE_COUNTS and set(labels) == {"table"}:
                per_table[name] = per_table.get(name, 0) + int(sample.value)
            elif not labels:
                values[name] = float(sample.value)
    base = "kubeproxy_sync_proxy_rules"
    return SyncMetrics(
        syncs=int(values.get(f"{base}_duration_seconds_count", 0)),
        seconds_total=values.get(f"{base}_duration_seconds_sum", 0.0),
        full=int(values.get("kubeproxy_sync_full_proxy_rules_duration_seconds_count", 0)),
        partial=int(values.get("kubeproxy_sync_partial_proxy_rules_duration_seconds_count", 0)),
        last_timestamp=values.get(f"{base}_last_timestamp_seconds", 0.0),
        endpoint_changes=int(values.get(f"{base}_endpoint_changes_total", 0)),
        service_changes=int(values.get(f"{base}_service_changes_total", 0)),
        pending=int(
            values.get(f"{base}_endpoint_changes_pending", 0)
            + values.get(f"{base}_service_changes_pending", 0)
        ),
        duration_buckets=tuple(sorted(buckets)),
        programming_buckets=tuple(sorted(programming)),
        programming_count=int(
            values.get("kubeproxy_network_programming_duration_seconds_count", 0)
        ),
        full_seconds_total=values.get("kubeproxy_sync_full_proxy_rules_duration_seconds_sum", 0.0),
        partial_seconds_total=values.get(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds_sum", 0.0
        ),
        iptables_rules=per_table.get(f"{base}_iptables_total"),
        iptables_rules_last_sync=per_table.get(f"{base}_iptables_last"),
    )


def bucket_quantile(
    after: tuple[tuple[float, int], ...], before: tuple[tuple[float, int], ...], q: float
) -> float | None:
    """The upper bound of the Prometheus bucket holding quantile q of the observations
    made between two readings of a histogram (None without any)."""
    was = dict(before)
    delta = [(le, count - was.get(le, 0)) for le, count in after]
    total = delta[-1][1] if delta else 0
    if total <= 0:
        return None
    for le, count in delta:
        if count >= q * total:
            return le
    return None
