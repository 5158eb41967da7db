"""A lab that is up, as commands and scenarios use it.

`running(lab)` builds the lab, yields its `LiveLab` and always tears it down, also when
the command is interrupted (SIGINT, SIGTERM, SIGHUP: see `interrupt`). `attach(name)`
gives the handle of a lab that `lab up` left running. The handle is the one lookup of
members: pods, nodes, Services, the external client, the gateway, the fabric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kubenetlab import lab as labmod
from kubenetlab.components.backends import Backends
from kubenetlab.components.proxy import ServiceProxyComponent
from kubenetlab.errors import KnlError, UsageError
from kubenetlab.kernel import netns
from kubenetlab.kernel.ledger import Ledger, known_labs
from kubenetlab.model import Lab, Node
from kubenetlab.proxy import SyncResult
from kubenetlab.services import Endpoint, Service

MEMBER_KINDS = ("pod", "node", "service", "client", "gateway", "fabric")


@dataclass(frozen=True)
class Member:
    """Something in a lab that traffic can start from or go to."""

    name: str
    netns: str  # "" for a Service: it is a virtual IP, in no namespace
    ip: str
    node: str  # the node it runs on ("" off the nodes)
    kind: str  # one of MEMBER_KINDS
    port: int | None = None  # Services: the Service port

    @classmethod
    def of_service(cls, svc: Service, port: int | None = None) -> Member:
        return cls(svc.key, "", svc.cluster_ip, "", "service", port or svc.ports[0].port)

    @classmethod
    def of_node_port(cls, svc: Service, node: Node, node_port: int) -> Member:
        """A Service as an external client reaches it: a node's address and NodePort."""
        name = f"{svc.key} via {node.name}:{node_port}"
        return cls(name, "", str(node.underlay_ip), node.name, "service", node_port)


@dataclass
class LiveLab:
    lab: Lab
    ledger: Ledger

    @property
    def name(self) -> str:
        return self.lab.name

    def member(self, name: str) -> Member:
        found = self._member(name)
        if found.netns and not netns.exists(found.netns):
            raise KnlError(
                f"{name}'s namespace {found.netns} is gone: lab {self.name!r} is damaged "
                f"(`kubenetlab lab status {self.name}` shows what is left, "
                f"`kubenetlab lab down {self.name}` removes it)"
            )
        return found

    def _member(self, name: str) -> Member:
        lab = self.lab
        for pod in lab.pods:
            if pod.name == name:
                return Member(pod.name, pod.netns, str(pod.ip), pod.node, "pod")
        for node in lab.nodes:
            if node.name == name:
                return Member(node.name, node.netns, str(node.underlay_ip), node.name, "node")
        if name == "client" and lab.client_netns:
            return Member(name, lab.client_netns, str(lab.client_ip), "", "client")
        if name == "gateway" and lab.gateway_netns:
            return Member(name, lab.gateway_netns, str(lab.gateway_ip), "", "gateway")
        if name == "fabric":
            return Member(name, lab.fabric_netns, "", "", "fabric")
        try:
            return Member.of_service(lab.service(name))
        except KeyError:
            pods = ", ".join(p.name for p in lab.pods[:6])
            raise UsageError(
                f"lab {lab.name!r} has no pod, node or service {name!r} (pods: {pods}…)"
            ) from None

    def netns(self, name: str) -> str:
        """A member's namespace (what `lab exec` enters); Services have none."""
        member = self.member(name)
        if not member.netns:
            raise UsageError(f"{name!r} is a Service: a virtual IP, not a namespace")
        return member.netns

    def service(self, key: str) -> Service:
        try:
            return self.lab.service(key)
        except KeyError:
            raise UsageError(f"lab {self.lab.name!r} has no service {key!r}") from None

    def set_endpoints(self, key: str, pod_names: list[str]) -> dict[str, SyncResult]:
        """Point Service `key` at `pod_names`; every node's proxy follows the change the way
        that proxy does (nftables: only what changed). What each node's sync did."""
        old_svc = self.service(key)
        pods = {p.name: p for p in self.lab.pods}
        missing = [n for n in pod_names if n not in pods]
        if missing:
            raise UsageError(f"lab {self.name!r} has no pod {missing[0]!r}")
        endpoints = tuple(Endpoint(str(pods[n].ip), pods[n].node, pod=n) for n in pod_names)
        new_svc = dataclasses.replace(old_svc, endpoints=endpoints)
        services = tuple(new_svc if s.key == old_svc.key else s for s in self.lab.services)
        old, self.lab = self.lab, dataclasses.replace(self.lab, services=services)
        if self.lab.control_plane == "etcd":  # written to etcd; the node agents follow
            synced = _through_etcd(self.lab, self.ledger, new_svc)
        elif self.lab.control_plane == "kubernetes":  # through the API; kube-proxy follows
            synced = _through_api(self.lab, self.ledger, new_svc)
        else:
            synced = ServiceProxyComponent().update(old, self.lab)
        self.ledger.lab = self.lab.to_dict()
        self.ledger.save()
        Backends().update(self.lab, self.ledger)
        return synced


def _through_api(lab: Lab, ledger: Ledger, svc: Service) -> dict[str, SyncResult]:
    """Rewrite the EndpointSlice through the lab's API and wait for every node's proxy to
    have programmed it: the upstream kube-proxy (its own metrics) or the eBPF proxy's API
    agents (the resourceVersion they applied); what each node's sync did."""
    from pathlib import Path

    from kubenetlab.components.kubeproxy import wait_synced
    from kubenetlab.components.proxyagents import read_status, wait_applied
    from kubenetlab.controlplane import objects
    from kubenetlab.controlplane.kubeproxy import runs_upstream

    kubeconfig = Path(ledger.extra["api_server"]["kubeconfig"])
    if runs_upstream(lab):
        return wait_synced(lab, lambda: objects.replace_endpoints(kubeconfig, svc))
    wait_applied(lab, ledger, objects.replace_endpoints(kubeconfig, svc))
    out = {}
    for node in lab.nodes:
        last = read_status(ledger, node.name).get("last_sync", {})
        out[node.name] = SyncResult(
            last.get("changed", 0), last.get("seconds", 0.0), last.get("mode", "none")
        )
    return out


def _through_etcd(lab: Lab, ledger: Ledger, svc: Service) -> dict[str, SyncResult]:
    """Write the EndpointSlice as the controller would and wait for every agent."""
    from kubenetlab.components.agents import read_status, wait_applied
    from kubenetlab.components.etcd import CLIENT_URL
    from kubenetlab.kernel import netns
    from kubenetlab.store import Etcd, write_endpoints

    assert lab.control_netns is not None
    with netns.inside(lab.control_netns):
        revision = write_endpoints(Etcd(CLIENT_URL), svc)
    nodes = [n.name for n in lab.nodes]
    wait_applied(ledger, nodes, revision)
    out = {}
    for node in nodes:
        last = read_status(ledger, node).get("last_sync", {})
        out[node] = SyncResult(
            last.get("changed", 0), last.get("seconds", 0.0), last.get("mode", "none")
        )
    return out


def attach(name: str) -> LiveLab:
    """The handle of lab `name`, which must be up."""
    ledger = Ledger.load(name)
    if ledger is None or not ledger.lab:
        up_labs = ", ".join(known_labs()) or "none"
        raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
    return LiveLab(Lab.from_dict(ledger.lab), ledger)


@contextmanager
def running(lab: Lab) -> Iterator[LiveLab]:
    """Build `lab`, yield its handle, tear it down whatever happens inside."""
    labmod.up(lab)
    try:
        yield attach(lab.name)
    finally:
        labmod.down(lab.name)
