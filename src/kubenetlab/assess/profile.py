"""What assess detected in a cluster: its Services' shapes and counts, the endpoints
behind them and how they spread over the nodes, the nodes, the data path (CNI, its mode,
kube-proxy's mode and minSyncPeriod), the MTUs and the recent endpoint churn — each fact
with the object it came from; what the objects do not tell is listed as unknown, with
the reason. Pure: a Snapshot in, a Profile out."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubenetlab.assess.snapshot import Snapshot
from kubenetlab.cluster.detect import DataPath, detect
from kubenetlab.kube.cluster import internal_ipv4s
from kubenetlab.kube.dataplane_config import Fact, value

RECENT_SECONDS = 600  # "recent churn": EndpointSlices written in the last ten minutes
KUBE_PROXY_DEFAULT_MIN_SYNC = "1s"  # KubeProxyConfiguration's default


@dataclass(frozen=True)
class Unknown:
    name: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "why": self.why}


@dataclass
class Profile:
    source: str
    services: dict[str, Any]
    endpoints: dict[str, Any]
    nodes: list[dict[str, Any]]
    data_path: DataPath
    churn: dict[str, Any]
    facts: list[Fact] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fact(self, name: str) -> str | None:
        return value(self.facts, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "services": self.services, "endpoints": self.endpoints,
            "nodes": self.nodes, "data_path": self.data_path.to_dict(), "churn": self.churn,
            "facts": [f.to_dict() for f in self.facts],
            "unknown": [u.to_dict() for u in self.unknown], "notes": self.notes,
        }  # fmt: skip


def _quantiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {"median": 0, "p90": 0, "max": 0}
    ordered = sorted(values)
    return {"median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "max": ordered[-1]}  # fmt: skip


def _services(snapshot: Snapshot) -> tuple[dict[str, Any], list[Fact]]:
    services = snapshot.services
    types = Counter(s.type for s in services)
    summary = {
        "count": len(services),
        "types": dict(sorted(types.items())),
        "headless": sum(1 for s in services if s.cluster_ip == "None"),
        "etp_local": sum(1 for s in services if s.external and s.etp == "Local"),
        "session_affinity": sum(1 for s in services if s.session_affinity == "ClientIP"),
        "source_ranges": sum(1 for s in services if s.load_balancer_source_ranges),
        "ports_per_service": _quantiles([len(s.ports) for s in services]),
    }
    where = "Services"
    facts = [Fact("Services", str(len(services)), where)]
    facts += [Fact(f"Services of type {t}", str(n), where) for t, n in sorted(types.items())]
    for key, label in (("etp_local", "externalTrafficPolicy Local"),
                       ("session_affinity", "sessionAffinity ClientIP"),
                       ("source_ranges", "loadBalancerSourceRanges")):  # fmt: skip
        if summary[key]:
            facts.append(Fact(f"Services with {label}", str(summary[key]), where))
    return summary, facts


def _endpoints(snapshot: Snapshot) -> tuple[dict[str, Any], list[Fact]]:
    """Ready endpoints per Service (its slices joined by the service-name label) and how
    they spread over the nodes (the slices' nodeName)."""
    ready = snapshot.ready_endpoints()
    per_node = Counter(node for nodes in ready.values() for node in nodes if node)
    no_node = sum(1 for nodes in ready.values() for node in nodes if not node)
    counts = [len(ready.get((s.namespace, s.name), [])) for s in snapshot.services
              if s.cluster_ip != "None" and s.type != "ExternalName"]  # fmt: skip
    total = sum(per_node.values()) + no_node
    busiest = per_node.most_common(1)[0] if per_node else None
    summary = {
        "total": total,
        "per_service": _quantiles(counts),
        "without_endpoints": sum(1 for c in counts if c == 0),
        "nodes_with_endpoints": len(per_node),
        "busiest_node": {"name": busiest[0], "share": busiest[1] / total} if busiest else None,
        "without_node_name": no_node,
    }
    where = "EndpointSlices: ready endpoints"
    facts = [Fact("ready endpoints", str(total), where),
             Fact("endpoints per Service (median)", f"{summary['per_service']['median']:g}",
                  where)]  # fmt: skip
    if busiest:
        facts.append(Fact("busiest node's share of endpoints",
                          f"{100 * busiest[1] / total:.0f} % ({busiest[0]})",
                          f"{where}: nodeName"))  # fmt: skip
    return summary, facts


def _nodes(snapshot: Snapshot) -> tuple[list[dict[str, Any]], list[Fact]]:
    nodes = []
    for node in snapshot.nodes:
        meta, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
        info = status.get("nodeInfo") or {}
        nodes.append({
            "name": meta.get("name", ""),
            "internal_ip": (internal_ipv4s(node) or [None])[0],
            "kernel": info.get("kernelVersion"),
            "cpus": (status.get("capacity") or {}).get("cpu"),
            "pod_cidrs": spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []),
            "instance_type": (meta.get("labels") or {}).get("node.kubernetes.io/instance-type"),
        })  # fmt: skip
    facts = []
    if nodes:
        where = "Nodes"
        kernels = sorted({str(n["kernel"]) for n in nodes if n["kernel"]})
        cpus = sorted({str(n["cpus"]) for n in nodes if n["cpus"]})
        facts = [Fact("nodes", str(len(nodes)), where),
                 Fact("node kernels", ", ".join(kernels) or "not reported", f"{where}: nodeInfo"),
                 Fact("node CPUs", ", ".join(cpus) or "not reported", f"{where}: capacity")]  # fmt: skip
    return nodes, facts


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _churn(snapshot: Snapshot, now: datetime | None) -> tuple[dict[str, Any], list[Fact]]:
    """Endpoint churn from the EndpointSlices themselves: each change to a slice's
    endpoints bumps its `metadata.generation`, and `managedFields[].time` is when its
    manager last wrote it. Rate = Σ(generation − 1) / Σ lifetimes' span; recent = slices
    written in the last ten minutes before `now` (a dump's: its newest write)."""
    stamps = []
    for data in snapshot.slice_data:
        meta = data.get("metadata") or {}
        created = _time(meta.get("creationTimestamp"))
        writes = [t for t in (_time(m.get("time")) for m in meta.get("managedFields") or []) if t]
        generation = meta.get("generation")
        if created and isinstance(generation, int):
            stamps.append((created, max(writes) if writes else None, generation))
    if not stamps:
        return {"known": False}, []
    newest = max((w for _, w, _ in stamps if w), default=None)
    end = now or newest
    if end is None:
        return {"known": False}, []
    changes = sum(g - 1 for _, _, g in stamps)
    span = max((end - min(c for c, _, _ in stamps)).total_seconds(), 1.0)
    recent = sum(1 for _, w, _ in stamps if w and (end - w).total_seconds() <= RECENT_SECONDS)
    # each slice written in the window changed at least once: a floor on the recent rate
    recent_rate = recent / RECENT_SECONDS
    summary = {"known": True, "changes": changes, "span_s": span,
               "lifetime_per_second": changes / span, "slices_written_recently": recent,
               "recent_window_s": RECENT_SECONDS, "recent_per_second_at_least": recent_rate,
               "per_second": max(changes / span, recent_rate), "as_of": end.isoformat()}  # fmt: skip
    until = "now" if now else "the dump's newest write"
    return summary, [
        Fact("endpoint churn (lifetime)", f"{changes / span:.2g}/s ({changes} slice changes "
             f"in {span / 3600:.0f} h)", f"EndpointSlices: generation, creation to {until}"),
        Fact("endpoint churn (last 10 min)", f"≥ {recent_rate:.2g}/s ({recent} slices written)",
             f"EndpointSlices: managedFields times, to {until}"),
    ]  # fmt: skip


def _calico_mtu(config_maps: list[dict[str, Any]]) -> Fact | None:
    """calico-config's veth_mtu (the pods' MTU Calico's CNI plugin sets; "0": auto)."""
    for cm in config_maps:
        meta = cm.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == ("kube-system", "calico-config"):
            mtu = str((cm.get("data") or {}).get("veth_mtu", "")).strip()
            if mtu.isdigit() and mtu != "0":
                return Fact("pod MTU", mtu, "ConfigMap kube-system/calico-config: veth_mtu")
    return None


def _mtu(
    data_path: DataPath, config_maps: list[dict[str, Any]]
) -> tuple[list[Fact], list[Unknown]]:
    facts, unknown = [], []
    cilium_mtu = value(list(data_path.facts), "cilium mtu")
    calico = _calico_mtu(config_maps) if data_path.cni == "calico" else None
    if cilium_mtu and cilium_mtu != "0":
        where = next(f.source for f in data_path.facts if f.name == "cilium mtu")
        facts.append(Fact("pod MTU", cilium_mtu, where))
    elif calico is not None:
        facts.append(calico)
    else:
        unknown.append(Unknown("pod MTU", "not in the objects read (measured in a pod by "
                                          "`compare --kubeconfig`)"))  # fmt: skip
    unknown.append(Unknown("node MTU", "the API does not show a node's interfaces"))
    return facts, unknown


def profile(snapshot: Snapshot, now: datetime | None = None,
            helm_values: list[Fact] | None = None) -> Profile:  # fmt: skip
    """`now`: the time a live read was made (None for a dump: its newest write);
    `helm_values`: Cilium's, as assess.helm reads them."""
    services, facts = _services(snapshot)
    endpoints, more = _endpoints(snapshot)
    facts += more
    nodes, more = _nodes(snapshot)
    facts += more
    data_path = detect(snapshot.daemonsets, snapshot.config_maps,
                       "DaemonSets not read", snapshot.nodes, helm_values)  # fmt: skip
    facts += list(data_path.facts)
    unknown: list[Unknown] = []
    mode = data_path.kube_proxy.split()[0]
    if mode in ("iptables", "nftables", "ipvs", "iptables-legacy"):
        sync = value(list(data_path.facts), "kube-proxy minSyncPeriod")
        if sync is None and value(list(data_path.facts), "kube-proxy mode"):
            facts.append(Fact("kube-proxy minSyncPeriod", KUBE_PROXY_DEFAULT_MIN_SYNC,
                              "ConfigMap kube-system/kube-proxy (unset: kube-proxy's default)"))  # fmt: skip
        elif sync is None:
            unknown.append(Unknown("kube-proxy minSyncPeriod", "its ConfigMap was not read"))
    churn, more = _churn(snapshot, now)
    facts += more
    if not churn["known"]:
        unknown.append(Unknown("endpoint churn", "no EndpointSlice with generation and "
                                                 "timestamps in what was read"))  # fmt: skip
    mtu_facts, mtu_unknown = _mtu(data_path, snapshot.config_maps)
    facts += mtu_facts
    unknown += mtu_unknown
    if data_path.model is None:
        unknown.append(Unknown("the lab stack that models it", data_path.model_reason))
    for kind in snapshot.kinds_missing():
        unknown.append(Unknown(f"{kind} objects", f"none in {snapshot.source}"))
    return Profile(snapshot.source, services, endpoints, nodes, data_path, churn, facts,
                   unknown, list(snapshot.notes))  # fmt: skip


def add_said_mtus(found: Profile, node: int | None, pod: int | None) -> None:
    """The MTUs the user gave (--node-mtu, --pod-mtu: the API shows neither) as facts,
    in place of their unknowns; a given pod MTU overrides what a CNI's config said."""
    for name, given, flag in (("node MTU", node, "--node-mtu"), ("pod MTU", pod, "--pod-mtu")):
        if given is None:
            continue
        found.facts = [f for f in found.facts if f.name != name]
        found.facts.append(Fact(name, str(given), f"{flag} (as given)"))
        found.unknown = [u for u in found.unknown if u.name != name]


def now_utc() -> datetime:
    return datetime.now(UTC)
