"""The profile-independent part of a lab: fabric, nodes, pods and their local routes.

Pure: model in, kernel objects out. Link names carry the `knl-` prefix; the lab's
name is carried by the namespace each link lives in, because IFNAMSIZ (15 bytes)
has no room for it.

Pod wiring follows Cilium/Calico's point-to-point style rather than a per-node
bridge: the pod gets a /32 and routes everything via its node's pod gateway (the
first address of the node's pod CIDR, held on the node's loopback), and the node
has a /32 route per pod on the pod's veth.
"""

from __future__ import annotations

from kubenetlab.model import Lab, Node, Pod
from kubenetlab.plan import (
    Address,
    Bridge,
    Enslave,
    KernelObject,
    LinkUp,
    Neighbour,
    Netns,
    Route,
    Sysctl,
    Veth,
)
from kubenetlab.services import Service

FABRIC_BRIDGE = "knl-br"
NODE_UPLINK = "knl-up"
POD_IFNAME = "knl-eth0"


def fabric_port(node: Node) -> str:
    return f"knl-n{node.index}"


def node_pod_port(pod: Pod) -> str:
    """The node-side end of a pod's veth (Cilium's lxc…, Calico's cali…)."""
    return f"knl-p{pod.index}"


def _quiet_namespace(netns: str) -> list[KernelObject]:
    # IPv4-only lab: no IPv6 link-local addresses, router solicitations or DAD chatter.
    return [
        Sysctl(netns, "net.ipv6.conf.all.disable_ipv6", "1"),
        Sysctl(netns, "net.ipv6.conf.default.disable_ipv6", "1"),
    ]


def _measuring_namespace(netns: str) -> list[KernelObject]:
    """The same socket settings wherever a measurement runs (pods and nodes alike), so the
    node → node baseline meets the socket behaviour the pods do. A connection per
    transaction (TCP_CRR) would run out of ephemeral ports within seconds;
    ip_local_port_range is a Kubernetes "safe" pod sysctl, and netperf CRR users set
    tcp_tw_reuse the same way (the namespace default, 2, reuses TIME_WAIT on loopback only)."""
    return [
        Sysctl(netns, "net.ipv4.ip_local_port_range", "1024 65535"),
        Sysctl(netns, "net.ipv4.tcp_tw_reuse", "1"),
    ]


def topology_plan(lab: Lab) -> list[KernelObject]:
    objects: list[KernelObject] = [Netns(name) for name in lab.all_netns]
    fabric = lab.fabric_netns
    objects += _quiet_namespace(fabric)
    objects += [Bridge(fabric, FABRIC_BRIDGE, lab.underlay_mtu), LinkUp(fabric, FABRIC_BRIDGE)]
    for node in lab.nodes:
        objects += _node_plan(lab, node)
        for pod in lab.pods_on(node.name):
            objects += pod_plan(lab, node, pod)
    if lab.client_netns and lab.client_ip:
        objects += _client_plan(lab, lab.client_netns, str(lab.client_ip))
    if lab.gateway_netns and lab.gateway_ip:
        objects += _gateway_plan(lab, lab.gateway_netns, str(lab.gateway_ip))
    if lab.control_netns and lab.api_server_ip:  # the API server: nodes reach it on the fabric
        objects += _fabric_host(lab, lab.control_netns, str(lab.api_server_ip), CONTROL_PORT)
    elif lab.control_netns:  # etcd and the node agents: loopback only, no link to the fabric
        objects += [*_quiet_namespace(lab.control_netns), LinkUp(lab.control_netns, "lo")]
    return objects


CONTROL_PORT = "knl-k1"


GATEWAY_PORT = "knl-g1"


def _gateway_plan(lab: Lab, ns: str, ip: str) -> list[KernelObject]:
    """The Gateway API gateway: outside the cluster on the nodes' L2, as a cloud load
    balancer or an edge proxy is. It reaches Services and pods through the first node,
    whose kube-proxy rules DNAT (and masquerade) what arrives from outside the cluster."""
    via = str(lab.nodes[0].underlay_ip)
    return [
        *_fabric_host(lab, ns, ip, GATEWAY_PORT),
        Route(ns, str(lab.pod_cidr), dev=NODE_UPLINK, via=via),
        Route(ns, str(lab.service_cidr), dev=NODE_UPLINK, via=via),
    ]


CLIENT_PORT = "knl-c1"


def _client_plan(lab: Lab, ns: str, ip: str) -> list[KernelObject]:
    """A machine outside the cluster on the nodes' L2 (a load balancer, a user): reaches
    node IPs, and each Service's external and LoadBalancer IPs through the node that
    announces it — as MetalLB's L2 mode does: one node answers for the IP, for
    `externalTrafficPolicy: Local` one that runs an endpoint."""
    routes = [
        Route(ns, f"{addr}/32", NODE_UPLINK, via=str(node.underlay_ip))
        for svc in lab.services
        for addr, node in _announcers(lab, svc)
    ]
    return [*_fabric_host(lab, ns, ip, CLIENT_PORT), *routes]


def _announcers(lab: Lab, svc: Service) -> list[tuple[str, Node]]:
    local = {e.node for e in svc.ready_endpoints()} if svc.local else None
    eligible = [n for n in lab.nodes if local is None or n.name in local] or list(lab.nodes)
    return [(addr, eligible[0]) for addr in svc.external_addresses]


def _fabric_host(lab: Lab, ns: str, ip: str, port: str) -> list[KernelObject]:
    """A namespace with one uplink on the fabric bridge and an underlay address."""
    return [
        *_quiet_namespace(ns),
        Veth(ns, NODE_UPLINK, lab.fabric_netns, port, lab.underlay_mtu),
        Enslave(lab.fabric_netns, port, FABRIC_BRIDGE),
        LinkUp(lab.fabric_netns, port),
        LinkUp(ns, "lo"),
        LinkUp(ns, NODE_UPLINK),
        Address(ns, NODE_UPLINK, f"{ip}/{lab.underlay_cidr.prefixlen}"),
    ]


def _node_plan(lab: Lab, node: Node) -> list[KernelObject]:
    ns, port = node.netns, fabric_port(node)
    return [
        *_quiet_namespace(ns),
        *_measuring_namespace(ns),
        # The NodePort range is never an ephemeral port, as Cilium's auto-protect-node-port-
        # range makes it: a node's own connection from port 30080 would otherwise have its
        # replies taken for NodePort traffic by an eBPF service proxy (compare's TCP_CRR
        # baseline hung in SYN-SENT that way).
        Sysctl(ns, "net.ipv4.ip_local_reserved_ports", "{}-{}".format(*lab.node_port_range)),
        Sysctl(ns, "net.ipv4.ip_forward", "1"),
        Veth(ns, NODE_UPLINK, lab.fabric_netns, port, lab.underlay_mtu),
        Enslave(lab.fabric_netns, port, FABRIC_BRIDGE),
        LinkUp(lab.fabric_netns, port),
        LinkUp(ns, "lo"),
        LinkUp(ns, NODE_UPLINK),
        Address(ns, NODE_UPLINK, f"{node.underlay_ip}/{lab.underlay_cidr.prefixlen}"),
        Address(ns, "lo", f"{node.pod_gateway}/32"),
        # Real nodes reach the service CIDR by their default route; kube-proxy's REJECT and
        # DROP rules sit in FORWARD, which a packet with no route never reaches.
        *([Route(ns, str(lab.service_cidr), dev=NODE_UPLINK)] if lab.services else []),
        # ... and so external and LoadBalancer IPs: what kube-proxy does not DNAT (a source
        # outside loadBalancerSourceRanges) meets KUBE-PROXY-FIREWALL's DROP in FORWARD.
        *(
            Route(ns, f"{addr}/32", dev=NODE_UPLINK)
            for svc in lab.services
            for addr in svc.external_addresses
        ),
    ]


def veth_macs(node: Node, pod: Pod) -> tuple[str, str]:
    """Fixed, locally administered MACs for a pod's veth: (node end, pod end)."""
    n, p = node.index, pod.index
    tail = f"{n >> 8:02x}:{n & 255:02x}:{p >> 8:02x}:{p & 255:02x}"
    return f"0a:58:{tail}", f"0e:58:{tail}"


def pod_plan(lab: Lab, node: Node, pod: Pod) -> list[KernelObject]:
    """A pod's veth, address and routes, with permanent neighbour entries at both ends (as
    Cilium's CNI installs for the pod's gateway): ARP entries live in one table for every
    namespace on the host, capped by the host's gc_thresh3 (1024 by default), so a lab of
    hundreds of probed pods would overflow it (`neighbor table overflow`, ENOBUFS); permanent
    entries are not counted."""
    port = node_pod_port(pod)
    gateway = str(node.pod_gateway)
    node_mac, pod_mac = veth_macs(node, pod)
    return [
        *_quiet_namespace(pod.netns),
        *_measuring_namespace(pod.netns),
        Veth(node.netns, port, pod.netns, POD_IFNAME, lab.pod_mtu, node_mac, pod_mac),
        LinkUp(node.netns, port),
        Route(node.netns, f"{pod.ip}/32", dev=port),
        Neighbour(node.netns, port, str(pod.ip), pod_mac),
        LinkUp(pod.netns, "lo"),
        LinkUp(pod.netns, POD_IFNAME),
        Address(pod.netns, POD_IFNAME, f"{pod.ip}/32"),
        Neighbour(pod.netns, POD_IFNAME, gateway, node_mac),
        Route(pod.netns, f"{gateway}/32", dev=POD_IFNAME),
        Route(pod.netns, "default", dev=POD_IFNAME, via=gateway),
    ]
