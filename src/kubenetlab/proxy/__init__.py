"""Service proxies: one model (services.Service), several renderers, one registry.

Each proxy renders a node's Services purely and loads the text with the kernel layer.
Adding one (e.g. eBPF) is a new module and one line in PROXIES.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from kubenetlab.errors import UsageError
from kubenetlab.kernel import rules as kernel_rules
from kubenetlab.proxy import iptables, nftables
from kubenetlab.services import Service


@dataclass(frozen=True)
class NodeContext:
    node: str
    netns: str
    node_ips: tuple[str, ...]
    cluster_cidr: str
    service_cidr: str


class ServiceProxy(ABC):
    name: str
    models: str
    tools: tuple[tuple[str, str], ...]

    @abstractmethod
    def render(self, services: Sequence[Service], ctx: NodeContext) -> str: ...

    @abstractmethod
    def program(self, services: Sequence[Service], ctx: NodeContext) -> float:
        """Load every rule for `services` on the node; seconds the load took."""

    @abstractmethod
    def update(self, old: Sequence[Service], new: Sequence[Service], ctx: NodeContext) -> float:
        """Move the node from `old` to `new`; seconds taken."""

    @abstractmethod
    def clear(self, ctx: NodeContext) -> None: ...


class IptablesProxy(ServiceProxy):
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = "iptables" if backend == "nft" else "iptables-legacy"
        binary = "iptables-nft" if backend == "nft" else "iptables-legacy"
        self.models = f"kube-proxy iptables mode ({binary})"
        self.tools = ((kernel_rules.RESTORE[backend], "iptables"),)

    def render(self, services: Sequence[Service], ctx: NodeContext) -> str:
        return iptables.render(services, ctx.node, ctx.cluster_cidr)

    def program(self, services: Sequence[Service], ctx: NodeContext) -> float:
        return kernel_rules.iptables_restore(ctx.netns, self.render(services, ctx), self.backend)

    def update(self, old: Sequence[Service], new: Sequence[Service], ctx: NodeContext) -> float:
        return self.program(new, ctx)  # iptables mode rewrites the tables on every change

    def clear(self, ctx: NodeContext) -> None:
        kernel_rules.iptables_clear(ctx.netns, self.backend)


class NftablesProxy(ServiceProxy):
    name = "nftables"
    models = "kube-proxy nftables mode"
    tools = (("nft", "nftables"),)

    def _rule_set(self, services: Sequence[Service], ctx: NodeContext) -> nftables.RuleSet:
        return nftables.rule_set(services, ctx.node, ctx.node_ips, ctx.cluster_cidr)

    def render(self, services: Sequence[Service], ctx: NodeContext) -> str:
        return nftables.render_full(
            self._rule_set(services, ctx), ctx.cluster_cidr, ctx.service_cidr
        )

    def program(self, services: Sequence[Service], ctx: NodeContext) -> float:
        return kernel_rules.nft_apply(ctx.netns, self.render(services, ctx))

    def update(self, old: Sequence[Service], new: Sequence[Service], ctx: NodeContext) -> float:
        delta = nftables.render_delta(self._rule_set(old, ctx), self._rule_set(new, ctx))
        return kernel_rules.nft_apply(ctx.netns, delta) if delta else 0.0

    def clear(self, ctx: NodeContext) -> None:
        kernel_rules.nft_apply(ctx.netns, f"add table {nftables.T}\ndelete table {nftables.T}\n")


PROXIES: dict[str, ServiceProxy] = {
    p.name: p for p in (IptablesProxy("nft"), IptablesProxy("legacy"), NftablesProxy())
}


def proxy(name: str) -> ServiceProxy:
    try:
        return PROXIES[name]
    except KeyError:
        raise UsageError(f"unknown service proxy {name!r} (known: {', '.join(PROXIES)})") from None
