"""Stacks: what `compare --profiles` names — a routing profile, optionally with a service
proxy. "Profile" alone means a routing profile (routing/); a stack is either one of those
(pod-to-pod only) or a named CNI setup below (flannel, calico-ipip, calico-bgp, cilium).
A stack whose parts are not built yet, or whose kernel lacks a feature, is reported with
the reason instead of being dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from shutil import which

from kubenetlab.kernel.preflight import missing_kernel_options
from kubenetlab.routing import PROFILES as ROUTING


def service_proxies() -> dict[str, str]:
    """Proxies built so far: name → what it models."""
    from kubenetlab.proxy import PROXIES

    return {name: p.models for name, p in PROXIES.items()}


@dataclass(frozen=True)
class NamedStack:
    name: str
    routing: str
    proxy: str | None
    models: str
    proxy_options: tuple[tuple[str, str], ...] = ()


NAMED_STACKS = {
    p.name: p
    for p in (
        NamedStack("flannel", "vxlan", "iptables", "Flannel VXLAN + kube-proxy iptables"),
        NamedStack("calico-ipip", "ipip", "iptables", "Calico IPIP + kube-proxy iptables"),
        NamedStack(
            "calico-bgp", "bgp", "iptables", "Calico BGP (no overlay) + kube-proxy iptables"
        ),
        NamedStack("cilium", "native", "ebpf", "Cilium eBPF, native routing, no kube-proxy"),
        NamedStack(
            "cilium-dsr",
            "native",
            "ebpf",
            "Cilium eBPF, native routing, no kube-proxy, loadBalancer.mode=dsr",
            (("lb_mode", "dsr"),),
        ),
    )
}
# The article's table (Flannel VXLAN, Calico IPIP, Cilium eBPF native) plus direct routing;
# `vxlan` alone (no proxy) and the rest are available with --profiles.
DEFAULT_COMPARE = ("native", "flannel", "calico-ipip", "calico-bgp", "cilium")


@dataclass(frozen=True)
class Stack:
    name: str
    models: str
    routing: str
    proxy: str | None
    reason: str | None  # None: runnable here
    proxy_options: tuple[tuple[str, str], ...] = ()

    @property
    def available(self) -> bool:
        return self.reason is None


def _routing_reason(routing: str) -> str | None:
    cls = ROUTING[routing]
    missing = missing_kernel_options(cls.kernel_options)
    if missing:
        return f"this kernel lacks {', '.join(missing)}"
    absent = [f"{cmd} (apt-get install -y {pkg})" for cmd, pkg in cls.tools if not which(cmd)]
    return f"not installed: {', '.join(absent)}" if absent else None


def resolve(name: str) -> Stack:
    """Raise KeyError for names that are neither routing profiles nor named stacks, nor
    one of them `+PROXY` (the same data path with another service proxy: flannel+nftables,
    what kube-proxy's mode change alone does)."""
    if "+" in name:
        return _with_proxy(*name.split("+", 1))
    if name in ROUTING:
        cls = ROUTING[name]
        return Stack(name, cls.models, name, None, _routing_reason(name))
    named = NAMED_STACKS[name]
    reason = _routing_reason(named.routing)
    if reason is None and named.proxy not in service_proxies():
        reason = f"service proxy {named.proxy!r} is not built yet"
    return Stack(name, named.models, named.routing, named.proxy, reason, named.proxy_options)


def known_names() -> list[str]:
    return sorted({*ROUTING, *NAMED_STACKS})


def _with_proxy(base: str, proxy: str) -> Stack:
    stack = resolve(base)
    proxies = service_proxies()
    if proxy not in proxies:
        raise KeyError(f"{base}+{proxy}")
    instead = f" instead of {stack.proxy}" if stack.proxy else ""
    reason = stack.reason if stack.reason and "proxy" not in stack.reason else None
    return Stack(f"{base}+{proxy}", f"{stack.models}; service proxy: {proxies[proxy]}{instead}",
                 stack.routing, proxy, reason)  # fmt: skip
