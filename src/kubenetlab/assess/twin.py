"""The twin a Profile becomes: a lab of a few nodes with the cluster's data path (the lab
stack that models it, or the one --stack names), its own Services replayed with their
shapes (assess/replay.py) up to what one host measures in minutes, the endpoints per
Service and their spread over the nodes kept, the churn rate kept — and the what-ifs
that apply to it, each with the exact configuration change a user would make. Pure:
says what would be built and what was scaled, builds nothing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kubenetlab.assess import WHAT_IFS
from kubenetlab.assess.profile import Profile
from kubenetlab.assess.replay import MAX_ENDPOINTS_PER_SERVICE, Replay, replay
from kubenetlab.assess.snapshot import Snapshot
from kubenetlab.errors import UsageError
from kubenetlab.stacks import NAMED_STACKS, known_names

MAX_TWIN_SERVICES = 1000  # Services the twin programs: a 1,000-Service sync in seconds here
OVERLAYS = ("vxlan", "ipip")


@dataclass(frozen=True)
class WhatIf:
    name: str  # native, nftables, ebpf, dsr, mtu
    stack: str  # the lab stack that measures it
    change: str  # the configuration change, as the user would make it
    caveat: str = ""
    mtu: dict[str, int] | None = None  # mtu: the node MTU, the pod MTU now and aligned


@dataclass(frozen=True)
class Mtus:
    """What the user says of the cluster's MTUs (the API shows neither)."""

    node: int | None = None  # --node-mtu
    pod: int | None = None  # --pod-mtu (else what the CNI's configuration says)

    def __post_init__(self) -> None:
        from kubenetlab.spec import MTU_RANGE

        for flag, mtu in (("--node-mtu", self.node), ("--pod-mtu", self.pod)):
            if mtu is not None and not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
                raise UsageError(f"{flag} {mtu}: an MTU is {MTU_RANGE[0]}-{MTU_RANGE[1]} here")


@dataclass
class TwinPlan:
    stack: str  # the lab stack the twin runs (compare --profiles NAME)
    stack_source: str  # "detected: …" or "--stack"
    nodes: int
    services: int
    endpoints_per_service: int
    churn_per_second: float | None
    scaled: list[str] = field(default_factory=list)  # what was scaled down, and how
    what_ifs: list[WhatIf] = field(default_factory=list)
    not_applicable: dict[str, str] = field(default_factory=dict)  # what-if → why not
    replay: Replay | None = None  # the cluster's Services as the twin creates them
    node_mtu: int | None = None  # the cluster's (--node-mtu): the twin's labs' underlay

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "replay"}
        out["replay"] = self.replay.to_dict() if self.replay else None
        return out


def _stack(profile: Profile, override: str | None) -> tuple[str, str]:
    if override:
        if override not in known_names():
            raise UsageError(
                f"--stack {override!r}: not a lab stack (known: {', '.join(known_names())})"
            )
        return override, "--stack"
    model = profile.data_path.model
    if model is None:
        raise UsageError(
            f"the cluster's data path has no lab model ({profile.data_path.model_reason}); "
            f"say which lab stack stands for it with --stack ({', '.join(known_names())})"
        )
    return model, f"detected: {profile.data_path.model_reason}"


def _parts(stack: str) -> tuple[str, str | None, bool]:
    """(routing, proxy, dsr) of a lab stack."""
    named = NAMED_STACKS.get(stack)
    if named is None:
        return stack, None, False
    return named.routing, named.proxy, ("lb_mode", "dsr") in named.proxy_options


def _mtu_what_if(stack: str, routing: str, profile: Profile, mtus: Mtus) -> WhatIf | str:
    """Aligning the pod MTU with the path (node MTU − the overlay's header), or why not."""
    from kubenetlab.routing import PROFILES, profile_class

    if mtus.node is None:
        return "the node MTU is not in the API: give --node-mtu (`ip link` on a node)"
    overhead = profile_class(routing).encap_overhead if routing in PROFILES else 0
    aligned = mtus.node - overhead
    cni = profile.data_path.cni
    pod, source = mtus.pod, "--pod-mtu"
    if pod is None and (said := profile.fact("pod MTU")):
        pod, source = int(said), "the CNI's configuration"
    if pod is None:
        if cni in ("flannel", "cilium", "calico"):
            return (f"{cni} derives the pod MTU from the node's ({mtus.node} − {overhead} = "
                    f"{aligned}): aligned; give --pod-mtu if a pod says otherwise")  # fmt: skip
        return "the pod MTU is unknown: give --pod-mtu (`ip link` in a pod)"
    if pod == aligned:
        return f"aligned already: pod MTU {pod} = node MTU {mtus.node} − {overhead}"
    changes = {
        "cilium": f"Helm values: MTU: {aligned}",
        "calico": f'ConfigMap kube-system/calico-config veth_mtu: "{aligned}" (then restart '
        "calico-node)",
        "flannel": f"drop the pod MTU override: flannel gives pods {aligned} on a {mtus.node} "
        "node MTU",
    }
    generic = f"pod MTU {aligned} (node MTU {mtus.node} − {overhead} B of {routing} headers)"
    change = changes.get(cni, generic)
    caveat = (f"now misaligned ({source}): packets above {aligned} B do not fit the path; they "
              "fragment, or vanish where ICMP frag-needed is filtered" if pod > aligned else
              f"now below the path ({source}): each packet carries {aligned - pod} B less than "
              "it could")  # fmt: skip
    return WhatIf("mtu", stack, change, caveat + "; pods pick it up when they restart",
                  {"node": mtus.node, "pod_now": pod, "pod_aligned": aligned})  # fmt: skip


def what_ifs(
    stack: str, profile: Profile, asked: tuple[str, ...], mtus: Mtus | None = None
) -> tuple[list[WhatIf], dict[str, str]]:
    """Each asked what-if that changes this data path, and why each other does not."""
    routing, proxy, dsr = _parts(stack)
    cni = profile.data_path.cni
    mtus = mtus or Mtus()
    out: list[WhatIf] = []
    skip: dict[str, str] = {}
    for name in asked:
        if name == "native":
            if routing not in OVERLAYS:
                skip[name] = f"the pod network already routes without an overlay ({routing})"
                continue
            change = {"flannel": "kube-flannel-cfg net-conf.json: \"Backend\": {\"Type\": \"host-gw\"}",
                      "calico": "IPPool: ipipMode: Never, vxlanMode: Never (BGP routes)",
                      "cilium": "Helm values: routingMode: native, autoDirectNodeRoutes: true, "
                                "ipv4NativeRoutingCIDR: <pod CIDR>"}.get(cni, "route pod CIDRs "
                                "between nodes instead of encapsulating")  # fmt: skip
            target = ("calico-bgp" if stack == "calico-ipip" else
                      f"native+{proxy}" if proxy else "native")  # fmt: skip
            out.append(WhatIf(name, target, change, "needs the nodes on one L2 segment, or BGP "
                              "peering with the network (no overlay to cross subnets)"))  # fmt: skip
        elif name == "nftables":
            if proxy not in ("iptables", "iptables-legacy"):
                skip[name] = (
                    f"the service proxy is {proxy or 'not in this stack'}, not kube-proxy iptables"
                )
                continue
            out.append(WhatIf(name, f"{stack}+nftables",
                              "kube-proxy ConfigMap config.conf: mode: nftables",
                              "kube-proxy ≥ 1.31 (GA 1.33) and a kernel ≥ 5.13; NodePorts answer "
                              "only on the node's own addresses (nodePortAddresses)"))  # fmt: skip
        elif name == "ebpf":
            if proxy == "ebpf":
                skip[name] = "the service proxy is already eBPF"
                continue
            base = stack.split("+", 1)[0]
            change = {"flannel": "Cilium in place of Flannel and kube-proxy, in its default "
                                 "tunnel mode (VXLAN, as now): Helm values kubeProxyReplacement: "
                                 "true, k8sServiceHost/k8sServicePort set; delete the kube-proxy "
                                 "DaemonSet",
                      "calico": "Calico's eBPF data plane: FelixConfiguration default "
                                "spec.bpfEnabled: true, kube-proxy disabled (the IP pool's "
                                "encapsulation kept)",
                      "cilium": "Helm values: kubeProxyReplacement: true, k8sServiceHost/"
                                "k8sServicePort set; delete the kube-proxy DaemonSet"}.get(
                cni, "an eBPF service proxy in place of kube-proxy (Cilium's "
                "kubeProxyReplacement, Calico's eBPF data plane)")  # fmt: skip
            out.append(WhatIf(name, f"{base}+ebpf", change,
                              "measured with kubenetlab's eBPF proxy (socket LB at connect, "
                              "NodePort in tc with SNAT) on the routing the cluster has: the "
                              "service path alone; the routing change is the native "
                              "what-if"))  # fmt: skip
        elif name == "dsr":
            if dsr:
                skip[name] = "DSR is already on"
                continue
            out.append(WhatIf(name, "cilium-dsr", "Helm values: kubeProxyReplacement: true, "
                              "loadBalancer.mode: dsr, routingMode: native",
                              "native routing only; replies leave from the backend's node, so "
                              "network policies and firewalls must allow them"))  # fmt: skip
        elif name == "mtu":
            found = _mtu_what_if(stack, routing, profile, mtus)
            if isinstance(found, str):
                skip[name] = found
            else:
                out.append(found)
        else:
            raise UsageError(f"--what-if {name!r}: one of {', '.join(WHAT_IFS)}")
    return out, skip


def plan(profile: Profile, nodes: int = 3, stack: str | None = None,
         asked: tuple[str, ...] = WHAT_IFS, snapshot: Snapshot | None = None,
         mtus: Mtus | None = None) -> TwinPlan:  # fmt: skip
    """`snapshot`: the objects `profile` was made from, whose Services the twin replays
    (None: the twin measures uniform Services of the same count); `mtus`: what the user
    says of the cluster's MTUs."""
    if not 2 <= nodes <= 8:
        raise UsageError(f"--nodes {nodes}: a twin has 2 to 8 nodes")
    name, source = _stack(profile, stack)
    scaled = []
    count = profile.services["count"]
    services = min(count, MAX_TWIN_SERVICES)
    if services < count:
        scaled.append(f"Services {count:,} → {services:,} (the first {services:,} of the same "
                      "shapes; the cost of the last one scales with the count, so the report "
                      "extrapolates linearly)")  # fmt: skip
    per = math.ceil(profile.endpoints["per_service"]["median"]) or 1
    endpoints = min(per, MAX_ENDPOINTS_PER_SERVICE)
    if endpoints < per:
        scaled.append(f"endpoints per Service {per} → {endpoints}")
    real_nodes = len(profile.nodes)
    if real_nodes and real_nodes != nodes:
        scaled.append(f"nodes {real_nodes} → {nodes} (endpoints spread over them in the "
                      "cluster's proportions)")  # fmt: skip
    churn = profile.churn.get("per_second") if profile.churn.get("known") else None
    chosen, skip = what_ifs(name, profile, asked, mtus)
    replayed = replay(snapshot, services, nodes) if snapshot is not None else None
    if replayed is not None:
        services = len(replayed.services)
    return TwinPlan(name, source, nodes, services, endpoints, churn, scaled, chosen, skip,
                    replayed, (mtus or Mtus()).node)  # fmt: skip
