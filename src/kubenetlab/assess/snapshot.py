"""A cluster as assess reads it, live (read-only verbs) or from `kubectl get … -o yaml`
dumps: its Services and EndpointSlices typed, and the objects that describe its nodes and
data path (Nodes, DaemonSets, the kube-proxy / cilium-config / kube-flannel-cfg /
calico-config ConfigMaps) as the API returns them. What was not there to read is noted, not guessed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubenetlab.kube.objects import KubeObject, V1EndpointSlice, V1Service

# ConfigMaps that say what the data path is: (namespace, name)
DATA_PATH_CONFIG_MAPS = (
    ("kube-system", "kube-proxy"), ("kube-system", "cilium-config"),
    ("kube-flannel", "kube-flannel-cfg"), ("kube-system", "kube-flannel-cfg"),
    ("kube-system", "calico-config"),
)  # fmt: skip
KINDS = ("Service", "EndpointSlice", "Node", "DaemonSet", "ConfigMap")


@dataclass
class Snapshot:
    source: str  # "cluster://<context>" or the files read
    services: list[V1Service] = field(default_factory=list)
    slices: list[V1EndpointSlice] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    daemonsets: list[dict[str, Any]] | None = None  # None: not read (and `notes` says why)
    config_maps: list[dict[str, Any]] = field(default_factory=list)
    slice_data: list[dict[str, Any]] = field(default_factory=list)  # metadata: generations, times
    notes: list[str] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # kinds read but not used: count

    def ready_endpoints(self) -> dict[tuple[str, str], list[str | None]]:
        """Each Service's ready endpoints (its slices joined by the service-name label), as
        the node each is on (None: the slice does not say)."""
        out: dict[tuple[str, str], list[str | None]] = {}
        for s in self.slices:
            if s.service_name is None:
                continue
            for e in s.endpoints:
                if e.ready:
                    out.setdefault((s.namespace, s.service_name), []).append(e.node_name)
        return out

    def kinds_missing(self) -> list[str]:
        """The kinds a dump did not hold (each makes some fact unknown)."""
        have = {
            "Service": self.services, "EndpointSlice": self.slices, "Node": self.nodes,
            "DaemonSet": self.daemonsets, "ConfigMap": self.config_maps,
        }  # fmt: skip
        return [kind for kind in KINDS if not have[kind]]


def _add(snapshot: Snapshot, data: dict[str, Any], typed: KubeObject) -> None:
    kind = data.get("kind")
    if isinstance(typed, V1Service):
        snapshot.services.append(typed)
    elif isinstance(typed, V1EndpointSlice):
        snapshot.slices.append(typed)
        snapshot.slice_data.append(data)
    elif kind == "Node":
        snapshot.nodes.append(data)
    elif kind == "DaemonSet":
        snapshot.daemonsets = [*(snapshot.daemonsets or []), data]
    elif kind == "ConfigMap":
        meta = data.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) in DATA_PATH_CONFIG_MAPS:
            snapshot.config_maps.append(data)
        else:
            snapshot.ignored["ConfigMap"] = snapshot.ignored.get("ConfigMap", 0) + 1
    else:
        snapshot.ignored[str(kind)] = snapshot.ignored.get(str(kind), 0) + 1


def from_files(paths: list[str]) -> Snapshot:
    """Dumps (`kubectl get svc,endpointslices,nodes,daemonsets,configmaps -A -o yaml`), in
    one file or several; a broken one is a one-line error naming file:line."""
    from kubenetlab.kube.load import load_checked_with_data

    snapshot = Snapshot("files: " + ", ".join(paths))
    for path in paths:
        for data, typed in load_checked_with_data(path):
            _add(snapshot, data, typed)
    for kind in snapshot.kinds_missing():
        snapshot.notes.append(f"no {kind} in the files given")
    return snapshot


def from_cluster(kubeconfig: str, context: str | None, timeout: float) -> Snapshot:
    """The live cluster, read with list/get only (asked first: exit 3 naming what is
    missing). DaemonSets and the data path's ConfigMaps are read when allowed, else noted."""
    from kubenetlab.errors import EnvironmentProblem
    from kubenetlab.kube.cluster import (
        CONFIG_MAPS,
        DAEMON_SETS,
        ENDPOINT_SLICES,
        NODES,
        SERVICES,
        Access,
        Cluster,
    )

    with Cluster(kubeconfig, context, timeout) as cluster:
        cluster.connect()
        cluster.require([Access(SERVICES), Access(ENDPOINT_SLICES), Access(NODES)])
        snapshot = Snapshot(f"cluster://{cluster.context}")
        for resource in (SERVICES, ENDPOINT_SLICES, NODES):
            for data in cluster.list(resource):
                _add(snapshot, data, *cluster.typed([data]))
        if cluster.missing([Access(DAEMON_SETS)]):
            snapshot.notes.append("list daemonsets.apps not allowed: the CNI is unknown")
        else:
            snapshot.daemonsets = []
            for data in cluster.list(DAEMON_SETS):
                _add(snapshot, data, *cluster.typed([data]))
        for namespace, name in DATA_PATH_CONFIG_MAPS:
            try:
                found = cluster.get(CONFIG_MAPS, namespace, name)
            except EnvironmentProblem as exc:  # not allowed: that fact stays unknown
                snapshot.notes.append(f"ConfigMap {namespace}/{name}: {exc.message}")
                continue
            if found is not None:
                _add(snapshot, found, *cluster.typed([found]))
    return snapshot
