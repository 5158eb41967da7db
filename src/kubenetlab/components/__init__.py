"""What a lab runs once its kernel objects exist, in start order (`lab down` stops them in
reverse). Adding a component is one module here and one line in COMPONENTS."""

from __future__ import annotations

from kubenetlab.components.agents import NodeAgents
from kubenetlab.components.backends import Backends
from kubenetlab.components.base import Component
from kubenetlab.components.ebpf import EbpfDatapath
from kubenetlab.components.etcd import EtcdStore
from kubenetlab.components.gateway import Gateway
from kubenetlab.components.kubelets import NodeKubelets
from kubenetlab.components.kubeproxy import UpstreamKubeProxy
from kubenetlab.components.kubernetes import KubernetesControlPlane
from kubenetlab.components.proxy import ServiceProxyComponent
from kubenetlab.components.proxyagents import EbpfProxyAgents
from kubenetlab.components.routing import RoutingDaemons
from kubenetlab.model import Lab

COMPONENTS: tuple[Component, ...] = (
    RoutingDaemons(),
    EbpfDatapath(),
    EtcdStore(),
    KubernetesControlPlane(),
    NodeKubelets(),
    UpstreamKubeProxy(),
    EbpfProxyAgents(),
    ServiceProxyComponent(),
    NodeAgents(),
    Backends(),
    Gateway(),
)


def components_of(lab: Lab) -> list[Component]:
    return [c for c in COMPONENTS if c.wanted(lab)]
