"""The twin a Profile becomes: a lab of a few nodes with the cluster's data path (the lab
stack that models it, or the one --stack names), its Services' count and shapes scaled
to what one host measures in minutes, the endpoints per Service kept, the churn rate
kept — and the what-ifs that apply to it, each with the exact configuration change a
user would make. Pure: says what would be built and what was scaled, builds nothing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kubenetlab.assess import WHAT_IFS
from kubenetlab.assess.profile import Profile
from kubenetlab.errors import UsageError
from kubenetlab.stacks import NAMED_STACKS, known_names

MAX_TWIN_SERVICES = 1000  # Services the twin programs: a 1,000-Service sync in seconds here
MAX_ENDPOINTS_PER_SERVICE = 10  # backends per Service in the twin (the lab's pods)
OVERLAYS = ("vxlan", "ipip")


@dataclass(frozen=True)
class WhatIf:
    name: str  # native, nftables, ebpf, dsr, mtu
    stack: str  # the lab stack that measures it
    change: str  # the configuration change, as the user would make it
    caveat: str = ""


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def what_ifs(
    stack: str, profile: Profile, asked: tuple[str, ...]
) -> tuple[list[WhatIf], dict[str, str]]:
    """Each asked what-if that changes this data path, and why each other does not."""
    routing, proxy, dsr = _parts(stack)
    cni = profile.data_path.cni
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
            out.append(WhatIf(name, "cilium", "Helm values: kubeProxyReplacement: true, "
                              "k8sServiceHost/k8sServicePort set; delete the kube-proxy DaemonSet",
                              "Cilium as the CNI; measured with native routing (the lab's "
                              "cilium)"))  # fmt: skip
        elif name == "dsr":
            if dsr:
                skip[name] = "DSR is already on"
                continue
            out.append(WhatIf(name, "cilium-dsr", "Helm values: kubeProxyReplacement: true, "
                              "loadBalancer.mode: dsr, routingMode: native",
                              "native routing only; replies leave from the backend's node, so "
                              "network policies and firewalls must allow them"))  # fmt: skip
        elif name == "mtu":
            skip[name] = "the node MTU is not in the API: measure it with `kubenetlab scenario mtu`"
        else:
            raise UsageError(f"--what-if {name!r}: one of {', '.join(WHAT_IFS)}")
    return out, skip


def plan(profile: Profile, nodes: int = 3, stack: str | None = None,
         asked: tuple[str, ...] = WHAT_IFS) -> TwinPlan:  # fmt: skip
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
    chosen, skip = what_ifs(name, profile, asked)
    return TwinPlan(name, source, nodes, services, endpoints, churn, scaled, chosen, skip)
