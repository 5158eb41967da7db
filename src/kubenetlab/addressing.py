"""Address plan: underlay IPs per node, a pod CIDR per node, pod IPs per pod.

Pure functions. The conventions mirror Kubernetes: the cluster pod CIDR is split
into per-node blocks of `/node_cidr_mask` (kube-controller-manager's
`--node-cidr-mask-size`, default 24), allocated in node order.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

# Underlay addresses at the top of the underlay CIDR are kept for lab members that
# are not nodes (external clients, gateways) so that node addresses never move.
RESERVED_UNDERLAY_TOP = 8
CLIENT_SLOT, GATEWAY_SLOT, API_SERVER_SLOT = 1, 2, 3  # reserved_underlay_ip slots

# In a node's pod block: the network address, the node's pod gateway (.1) and the
# broadcast address are never given to a pod.
RESERVED_PER_POD_BLOCK = 3


def underlay_ip(underlay: IPv4Network, node_index: int) -> IPv4Address:
    """Node `node_index` (1-based) gets the `node_index`-th host address."""
    return underlay.network_address + node_index


def reserved_underlay_ip(underlay: IPv4Network, slot: int) -> IPv4Address:
    """Slot 1..RESERVED_UNDERLAY_TOP, counted down from the last host address."""
    if not 1 <= slot <= RESERVED_UNDERLAY_TOP:
        raise ValueError(f"reserved underlay slot {slot} out of range")
    return underlay.broadcast_address - slot


def max_nodes(underlay: IPv4Network) -> int:
    return max(0, underlay.num_addresses - 2 - RESERVED_UNDERLAY_TOP)


def node_pod_cidr(pod_cidr: IPv4Network, node_cidr_mask: int, node_index: int) -> IPv4Network:
    """The `node_index`-th (1-based) `/node_cidr_mask` block of the cluster pod CIDR."""
    size = 1 << (32 - node_cidr_mask)
    return IPv4Network((int(pod_cidr.network_address) + (node_index - 1) * size, node_cidr_mask))


def max_node_blocks(pod_cidr: IPv4Network, node_cidr_mask: int) -> int:
    return 1 << (node_cidr_mask - pod_cidr.prefixlen)


def pods_per_block(node_cidr_mask: int) -> int:
    return (1 << (32 - node_cidr_mask)) - RESERVED_PER_POD_BLOCK


def pod_ip(node_block: IPv4Network, pod_index: int) -> IPv4Address:
    """Pod `pod_index` (1-based) of a node: .2, .3, ... (.1 is the node's gateway)."""
    return node_block.network_address + 1 + pod_index
