"""Service proxies: one model (services.Service), several renderers, one registry.

The Services are categorised per node once (`categorize`); each proxy turns that into its
desired state as data and syncs the difference to the node through the kernel layer.
Adding one is a new module and one line in PROXIES.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubenetlab.errors import UsageError
from kubenetlab.kernel import rules as kernel_rules
from kubenetlab.kernel.ledger import bpf_dir
from kubenetlab.model import Lab, Node
from kubenetlab.proxy import ebpf, iptables, nftables
from kubenetlab.proxy.categorize import categorize
from kubenetlab.services import Service


@dataclass(frozen=True)
class NodeContext:
    node: str
    netns: str
    node_ips: tuple[str, ...]
    cluster_cidr: str
    service_cidr: str
    lb_mode: str = "snat"  # ebpf: Cilium's loadBalancer.mode (snat | dsr | hybrid)
    lb_algorithm: str = "random"  # ebpf: loadBalancer.algorithm (random | maglev)
    pin_dir: str = ""  # ebpf: where the node's maps are pinned (empty: not live)
    nfacct: bool = True  # iptables: the kernel counts with nfacct (xt_nfacct + the tool)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did to one node."""

    changed: int  # objects written: iptables chains, or nft chains and map/set elements
    seconds: float  # wall time of the rule load (0 when nothing had to change)
    mode: str  # "full" (everything replaced), "delta" (only changes) or "none"


class ServiceProxy(ABC):
    """A backend: the categorised Services → its desired state as data → a sync that
    applies the difference to a node. `render` is the full text (`proxy render`, golden)."""

    name: str
    models: str
    tools: tuple[tuple[str, str], ...]

    @abstractmethod
    def desired(self, services: Sequence[Service], ctx: NodeContext) -> Any:
        """The node's state as data (pure)."""

    @abstractmethod
    def render(self, desired: Any, ctx: NodeContext) -> str:
        """The whole state as the text its tool loads (pure)."""

    @abstractmethod
    def sync(self, ctx: NodeContext, desired: Any, current: Any | None = None) -> SyncResult:
        """Move the node from `current` (None: unknown, replace everything) to `desired`."""

    @abstractmethod
    def clear(self, ctx: NodeContext) -> None: ...

    def render_services(self, services: Sequence[Service], ctx: NodeContext) -> str:
        return self.render(self.desired(services, ctx), ctx)

    def program(self, services: Sequence[Service], ctx: NodeContext) -> SyncResult:
        return self.sync(ctx, self.desired(services, ctx))


class IptablesProxy(ServiceProxy):
    """kube-proxy iptables mode: one iptables-restore of both tables whenever anything
    changed (kube-proxy's full sync; its partial sync only shortens the input)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = "iptables" if backend == "nft" else "iptables-legacy"
        binary = "iptables-nft" if backend == "nft" else "iptables-legacy"
        self.models = f"kube-proxy iptables mode ({binary})"
        self.tools = ((kernel_rules.RESTORE[backend], "iptables"),)

    def desired(self, services: Sequence[Service], ctx: NodeContext) -> iptables.IptablesTables:
        node_ip = ctx.node_ips[0] if ctx.node_ips else None
        return iptables.tables(
            categorize(services, ctx.node), ctx.cluster_cidr, ctx.nfacct, node_ip=node_ip
        )

    def render(self, desired: iptables.IptablesTables, ctx: NodeContext) -> str:
        return desired.restore_text()

    def sync(
        self,
        ctx: NodeContext,
        desired: iptables.IptablesTables,
        current: iptables.IptablesTables | None = None,
    ) -> SyncResult:
        want = desired.by_chain()
        have = current.by_chain() if current is not None else {}
        changed = sum(1 for key in want.keys() | have.keys() if want.get(key) != have.get(key))
        if current is not None and not changed:
            return SyncResult(0, 0.0, "none")
        if current is None:  # what kube-proxy sets up before its first sync
            kernel_rules.localhost_nodeports(ctx.netns, iptables.counters(desired))
        seconds = kernel_rules.iptables_restore(ctx.netns, desired.restore_text(), self.backend)
        return SyncResult(changed, seconds, "full")

    def clear(self, ctx: NodeContext) -> None:
        kernel_rules.iptables_clear(ctx.netns, self.backend)


class NftablesProxy(ServiceProxy):
    """kube-proxy nftables mode: the whole table once, then only changed chains and
    elements (`render_delta`)."""

    name = "nftables"
    models = "kube-proxy nftables mode"
    tools = (("nft", "nftables"),)

    def desired(self, services: Sequence[Service], ctx: NodeContext) -> nftables.RuleSet:
        return nftables.rule_set(services, ctx.node, ctx.node_ips, ctx.cluster_cidr)

    def render(self, desired: nftables.RuleSet, ctx: NodeContext) -> str:
        return nftables.render_full(desired, ctx.cluster_cidr, ctx.service_cidr)

    def sync(
        self,
        ctx: NodeContext,
        desired: nftables.RuleSet,
        current: nftables.RuleSet | None = None,
    ) -> SyncResult:
        if current is None:
            seconds = kernel_rules.nft_apply(ctx.netns, self.render(desired, ctx))
            return SyncResult(len(desired.chains) + len(desired.elements), seconds, "full")
        delta = nftables.render_delta(current, desired)
        if not delta:
            return SyncResult(0, 0.0, "none")
        seconds = kernel_rules.nft_apply(ctx.netns, delta)
        return SyncResult(nftables.objects_in(delta), seconds, "delta")

    def clear(self, ctx: NodeContext) -> None:
        kernel_rules.nft_apply(ctx.netns, f"add table {nftables.T}\ndelete table {nftables.T}\n")


class EbpfProxy(ServiceProxy):
    """Cilium's kube-proxy replacement: socket LB for ClusterIP, tc for NodePort (snat,
    dsr or hybrid). The programs (bpf/lb.bpf.c) are loaded by the ebpf-datapath
    component; a sync only writes the difference into the node's maps, in batches."""

    name = "ebpf"
    models = "Cilium eBPF kube-proxy replacement (socket LB + tc NodePort)"
    tools = (("clang", "clang"), ("bpftool", "bpftool"))

    def desired(self, services: Sequence[Service], ctx: NodeContext) -> ebpf.LbMaps:
        return ebpf.lb_maps(services, ctx.node, ctx.node_ips, ctx.lb_mode, ctx.lb_algorithm)

    def render(self, desired: ebpf.LbMaps, ctx: NodeContext) -> str:
        return ebpf.render(desired, ctx.node)

    def sync(
        self, ctx: NodeContext, desired: ebpf.LbMaps, current: ebpf.LbMaps | None = None
    ) -> SyncResult:
        from kubenetlab.kernel import lbmaps

        change = ebpf.delta(current, desired)
        if current is not None and not change.size:
            return SyncResult(0, 0.0, "none")
        seconds = lbmaps.write(ctx.pin_dir, desired.config(), change, full=current is None)
        return SyncResult(change.size, seconds, "full" if current is None else "delta")

    def clear(self, ctx: NodeContext) -> None:
        from kubenetlab.kernel import lbmaps

        lbmaps.clear(ctx.pin_dir)


PROXIES: dict[str, ServiceProxy] = {
    p.name: p for p in (IptablesProxy("nft"), IptablesProxy("legacy"), NftablesProxy(), EbpfProxy())
}


def proxy(name: str) -> ServiceProxy:
    try:
        return PROXIES[name]
    except KeyError:
        raise UsageError(f"unknown service proxy {name!r} (known: {', '.join(PROXIES)})") from None


def node_context(lab: Lab, node: Node) -> NodeContext:
    """What a proxy needs to know about the node it programs."""
    return NodeContext(
        node.name, node.netns, (str(node.underlay_ip),), str(lab.pod_cidr), str(lab.service_cidr),
        lb_mode=lab.proxy_options.get("lb_mode", "snat"),
        lb_algorithm=lab.proxy_options.get("lb_algorithm", "random"),
        pin_dir=str(bpf_dir(lab.name) / node.name),
        nfacct=kernel_rules.nfacct_available(),
    )  # fmt: skip


def proxy_of(lab: Lab) -> ServiceProxy:
    """The lab's service proxy (kube-proxy iptables mode when the spec names none)."""
    return proxy(lab.proxy or "iptables")
