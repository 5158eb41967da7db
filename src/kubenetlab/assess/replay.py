"""The cluster's own Services, replayed into the twin: each programmable Service (not
headless, not ExternalName) with its type, ports, traffic policies, affinity, source
ranges and external IPs as the cluster has them, and an EndpointSlice with as many ready
endpoints as its own (up to the twin's cap) — their addresses remapped onto the twin's
pods so that each twin node carries the share of endpoints its cluster nodes carried.
What the lab allocates itself (ClusterIPs, node ports) and what it cannot have (a load
balancer's ingress IPs, SCTP) is said in `notes`. Pure: slots, not addresses — the
scenario that builds the twin turns a slot (node, pod) into its pod's IP."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.assess.snapshot import Snapshot
from kubenetlab.kube.objects import SERVICE_NAME_LABEL, V1Service

Slot = tuple[int, int]  # (twin node index, pod index on that node), 0-based
CLIENT: Slot = (0, 0)  # node1-pod1 opens the measured connections; never a backend
MAX_ENDPOINTS_PER_SERVICE = 10  # backends per Service in the twin (the lab's pods)
TARGET_PORT = 8080  # every twin pod serves this port: each slice port maps to it
SKIPPED_NAMES = {("default", "kubernetes")}  # the lab has its own API Service


@dataclass(frozen=True)
class Replayed:
    namespace: str
    name: str
    spec: dict[str, Any]  # the Service's spec as created in the twin
    ports: tuple[tuple[str, str], ...]  # (name, protocol) of each port its slice carries
    endpoints: tuple[Slot, ...]  # one pod per ready endpoint
    probe_port: int | None  # a TCP port a measured connection can use (None: not measurable)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def service(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self.spec}  # fmt: skip

    def endpoint_slice(self, address_of: dict[Slot, tuple[str, str]]) -> dict[str, Any]:
        """Its EndpointSlice, each slot as (pod IP, node name)."""
        return {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{self.name}-twin", "namespace": self.namespace,
                         "labels": {SERVICE_NAME_LABEL: self.name}},
            "addressType": "IPv4",
            "ports": [{"name": n, "port": TARGET_PORT, "protocol": p} for n, p in self.ports],
            "endpoints": [{"addresses": [address_of[s][0]], "nodeName": address_of[s][1],
                           "conditions": {"ready": True}} for s in self.endpoints],
        }  # fmt: skip


@dataclass(frozen=True)
class Replay:
    services: tuple[Replayed, ...]
    nodes: int
    pods_per_node: int
    node_map: dict[str, int] = field(default_factory=dict)  # cluster node → twin node index
    notes: tuple[str, ...] = ()

    @property
    def namespaces(self) -> list[str]:
        return sorted({s.namespace for s in self.services})

    @property
    def endpoints(self) -> int:
        return sum(len(s.endpoints) for s in self.services)

    def backends(self) -> list[Slot]:
        """Every slot a Service uses: the pods that must serve TARGET_PORT."""
        return sorted({slot for s in self.services for slot in s.endpoints})

    def measured(self) -> tuple[Replayed, Replayed]:
        """The first and the last Service a new connection can be measured to."""
        usable = [s for s in self.services if s.probe_port is not None]
        return usable[0], usable[-1]

    def to_dict(self) -> dict[str, Any]:
        first, last = self.measured()
        per_node = Counter(slot[0] for s in self.services for slot in s.endpoints)
        return {
            "services": len(self.services), "endpoints": self.endpoints,
            "nodes": self.nodes, "pods_per_node": self.pods_per_node,
            "endpoints_per_twin_node": [per_node.get(i, 0) for i in range(self.nodes)],
            "node_map": self.node_map, "measured": [first.key, last.key],
            "types": dict(sorted(Counter(s.spec["type"] for s in self.services).items())),
            "notes": list(self.notes),
        }  # fmt: skip


def _not_replayed(svc: V1Service) -> str | None:
    """Why the twin leaves it out, or None."""
    if svc.type == "ExternalName":
        return "ExternalName Services (a DNS alias: kube-proxy programs no rules)"
    if svc.cluster_ip == "None":
        return "headless Services (kube-proxy programs no rules)"
    if (svc.namespace, svc.name) in SKIPPED_NAMES:
        return "default/kubernetes (the twin's API has its own)"
    if svc.cluster_ip and ":" in svc.cluster_ip:
        return "IPv6 Services (the twin is IPv4)"
    return None


def _spec(
    svc: V1Service, notes: Counter[str]
) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    ports, carried = [], []
    for p in svc.ports:
        if p.protocol == "SCTP":
            notes["Services with SCTP ports not replayed (the lab's kernel may lack SCTP)"] += 1
            continue
        ports.append({"name": p.name, "port": p.port, "protocol": p.protocol,
                      "targetPort": TARGET_PORT})  # fmt: skip
        carried.append((p.name, p.protocol))
    spec: dict[str, Any] = {"type": svc.type, "ports": ports,
                            "internalTrafficPolicy": svc.internal_traffic_policy}  # fmt: skip
    if svc.external:
        spec["externalTrafficPolicy"] = svc.etp
        if any(p.node_port for p in svc.ports):
            notes["Services whose node ports the twin's API allocates anew"] += 1
    if svc.type == "LoadBalancer":
        if svc.load_balancer_source_ranges:
            spec["loadBalancerSourceRanges"] = list(svc.load_balancer_source_ranges)
        if svc.ingress:
            notes[
                "LoadBalancers whose ingress IPs are not replayed (the twin has no load balancer)"
            ] += 1
    if svc.session_affinity == "ClientIP":
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc.affinity_timeout}}
    ipv4 = [ip for ip in svc.external_ips if ":" not in ip]
    if ipv4:
        spec["externalIPs"] = ipv4
    return spec, tuple(carried)


def _node_map(counts: Counter[str], nodes: int) -> dict[str, int]:
    """Cluster nodes onto twin nodes, the busiest first onto the least loaded: each twin
    node carries about the share of endpoints its cluster nodes did."""
    load = [0] * nodes
    out = {}
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        target = min(range(nodes), key=lambda i: (load[i], i))
        out[name] = target
        load[target] += n
    return out


def replay(snapshot: Snapshot, services: int, nodes: int) -> Replay:
    """The first `services` programmable Services of the snapshot, on `nodes` twin nodes."""
    notes: Counter[str] = Counter()
    chosen: list[V1Service] = []
    for svc in snapshot.services:
        why = _not_replayed(svc)
        if why:
            notes[f"not replayed: {why}"] += 1
        elif len(chosen) < services:
            chosen.append(svc)
    ready = snapshot.ready_endpoints()
    wanted = {(s.namespace, s.name): ready.get((s.namespace, s.name), [])[:MAX_ENDPOINTS_PER_SERVICE]
              for s in chosen}  # fmt: skip
    capped = sum(
        1 for s in chosen if len(ready.get((s.namespace, s.name), [])) > MAX_ENDPOINTS_PER_SERVICE
    )
    if capped:
        notes[f"Services with endpoints capped at {MAX_ENDPOINTS_PER_SERVICE}"] += capped
    node_map = _node_map(Counter(n for eps in wanted.values() for n in eps if n), nodes)
    # Each Service's endpoints as twin nodes: its cluster node's twin node, or in turn.
    placed: dict[tuple[str, str], list[int]] = {}
    turn = 0
    for key, eps in wanted.items():
        row = []
        for node in eps:
            if node in node_map:
                row.append(node_map[node])
            else:
                row.append(turn % nodes)
                turn += 1
        placed[key] = row
    # Pods per node: one Service's endpoints on a twin node are distinct pods there
    # (node1-pod1 is the client, so node1 needs one more).
    most: Counter[int] = Counter()
    for row in placed.values():
        for node, n in Counter(row).items():
            most[node] = max(most[node], n + (1 if node == CLIENT[0] else 0))
    pods = max(2, *most.values()) if most else 2
    out = []
    for index, svc in enumerate(chosen):
        spec, carried = _spec(svc, notes)
        slots: list[Slot] = []
        used: Counter[int] = Counter()
        for node in placed[(svc.namespace, svc.name)]:
            first = 1 if node == CLIENT[0] else 0  # the client's pod is never a backend
            room = pods - first
            slots.append((node, first + (index + used[node]) % room))
            used[node] += 1
        probe = next((p["port"] for p in spec["ports"] if p["protocol"] == "TCP"), None)
        measurable = probe is not None and slots and svc.internal_traffic_policy == "Cluster"
        out.append(Replayed(svc.namespace, svc.name, spec, carried, tuple(slots),
                            probe if measurable else None))  # fmt: skip
    if not any(r.probe_port for r in out):
        out.insert(0, _probe("knl-probe-first"))
        out.append(_probe("knl-probe-last"))
        notes["no Service to measure (TCP, ready endpoints, internalTrafficPolicy Cluster): "
              "probe Services added first and last"] += 2  # fmt: skip
    unknown_nodes = sum(1 for eps in wanted.values() for n in eps if not n)
    if unknown_nodes:
        notes["endpoints without a nodeName, placed on the twin's nodes in turn"] += unknown_nodes
    return Replay(tuple(out), nodes, pods, node_map,
                  tuple(f"{text}: {n}" for text, n in notes.items()))  # fmt: skip


def _probe(name: str) -> Replayed:
    port = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": TARGET_PORT}
    spec = {"type": "ClusterIP", "internalTrafficPolicy": "Cluster", "ports": [port]}
    return Replayed("default", name, spec, (("http", "TCP"),), ((1, 0), (0, 1)), 80)
