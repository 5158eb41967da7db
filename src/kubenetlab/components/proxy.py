"""The service proxy, live: every node gets its proxy's rules for the lab's Services
(kube-proxy iptables or nftables mode; `proxy/` renders them, `kernel/rules` loads them)."""

from __future__ import annotations

from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab
from kubenetlab.proxy import NodeContext, SyncResult, node_context, proxy_of


class ServiceProxyComponent(Component):
    name = "service-proxy"

    def wanted(self, lab: Lab) -> bool:
        # with etcd the node agents program the nodes; with kubernetes the upstream
        # kube-proxy (components/kubeproxy.py) or the eBPF proxy's API agents do
        return bool(lab.services) and lab.control_plane is None

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return proxy_of(lab).tools

    def plan(self, lab: Lab) -> list[NodeContext]:
        return [node_context(lab, node) for node in lab.nodes]

    def start(self, lab: Lab, ledger: Ledger, plan: list[NodeContext]) -> dict[str, Any]:
        impl = proxy_of(lab)
        seconds = {ctx.node: impl.program(lab.services, ctx).seconds for ctx in plan}
        return {"proxy_program_seconds": seconds}

    def update(self, old: Lab, new: Lab) -> dict[str, SyncResult]:
        """Move every node from `old`'s Services to `new`'s, as the proxy does."""
        impl = proxy_of(new)
        return {
            ctx.node: impl.sync(
                ctx, impl.desired(new.services, ctx), impl.desired(old.services, ctx)
            )
            for ctx in self.plan(new)
        }
