"""The lab model: plain, validated, immutable objects every other layer reads.

Built by `spec.build_lab`; nothing here touches the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from kubenetlab.addressing import API_SERVER_SLOT, reserved_underlay_ip
from kubenetlab.services import Service

NAME_PREFIX = "knl-"


def netns_prefix(lab_name: str) -> str:
    """Every namespace of lab `lab_name` starts with this (DESIGN.md: `knl-<lab>-`)."""
    return f"{NAME_PREFIX}{lab_name}-"


@dataclass(frozen=True)
class Node:
    name: str
    index: int  # 1-based, stable: used for addresses and interface names
    underlay_ip: IPv4Address
    pod_cidr: IPv4Network
    netns: str

    @property
    def pod_gateway(self) -> IPv4Address:
        """The node's own address in its pod CIDR; pods route everything via it."""
        return self.pod_cidr.network_address + 1


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    index: int  # 1-based within its node
    ip: IPv4Address
    netns: str


@dataclass(frozen=True)
class Lab:
    name: str
    profile: str
    profile_options: dict[str, Any]
    underlay_cidr: IPv4Network
    underlay_mtu: int
    pod_mtu: int
    pod_cidr: IPv4Network
    node_cidr_mask: int
    service_cidr: IPv4Network
    nodes: tuple[Node, ...]
    node_port_range: tuple[int, int] = (30000, 32767)  # the API server's, as the lab plays it
    pods: tuple[Pod, ...] = field(default=())
    proxy: str | None = (
        None  # service proxy on every node (iptables, iptables-legacy, nftables, ebpf)
    )
    proxy_options: dict[str, str] = field(default_factory=dict)  # ebpf: lb_mode, lb_algorithm
    services: tuple[Service, ...] = field(default=())
    client_ip: IPv4Address | None = None  # an external client on the fabric (labs with Services)
    routes: tuple[dict[str, Any], ...] = ()  # Gateway API objects as given (gateway/model.py)
    gateway_ip: IPv4Address | None = None  # the gateway's address on the fabric (labs with routes)
    # "etcd": Services live in etcd, node agents follow it; "kubernetes": the upstream
    # control plane (API server, controllers, scheduler) in the control namespace
    control_plane: str | None = None
    etcd_data_dir: str | None = None  # where etcd keeps its data (None: the lab's state dir)
    # kubernetes: image glob → host program argv, what the virtual kubelets run
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def control_netns(self) -> str | None:
        """etcd and the node agents over its loopback; with `kubernetes`, the control plane,
        linked to the fabric."""
        return f"{netns_prefix(self.name)}control" if self.control_plane else None

    @property
    def api_server_ip(self) -> IPv4Address | None:
        """The API server's address on the fabric, where nodes reach it (kubernetes only)."""
        if self.control_plane != "kubernetes":
            return None
        return reserved_underlay_ip(self.underlay_cidr, API_SERVER_SLOT)

    @property
    def fabric_netns(self) -> str:
        return f"{netns_prefix(self.name)}fabric"

    @property
    def client_netns(self) -> str | None:
        return f"{netns_prefix(self.name)}client" if self.client_ip else None

    @property
    def gateway_netns(self) -> str | None:
        return f"{netns_prefix(self.name)}gateway" if self.gateway_ip else None

    @property
    def all_netns(self) -> list[str]:
        """Fabric first, then nodes, pods, the client and the gateway: creation order."""
        client = [self.client_netns] if self.client_netns else []
        gateway = [self.gateway_netns] if self.gateway_netns else []
        control = [self.control_netns] if self.control_netns else []
        return [
            self.fabric_netns,
            *(n.netns for n in self.nodes),
            *(p.netns for p in self.pods),
            *client,
            *gateway,
            *control,
        ]

    def service(self, key: str) -> Service:
        """By "namespace/name", or by name alone when that is unambiguous. (Members of a
        running lab, with their namespaces, are looked up on `live.LiveLab`.)"""
        for svc in self.services:
            if svc.key == key or (("/" not in key) and svc.name == key):
                return svc
        raise KeyError(key)

    def pods_on(self, node_name: str) -> list[Pod]:
        return [p for p in self.pods if p.node == node_name]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the ledger and `lab status -o json`."""
        return {
            "name": self.name,
            "profile": self.profile,
            "profile_options": dict(self.profile_options),
            "underlay_cidr": str(self.underlay_cidr),
            "underlay_mtu": self.underlay_mtu,
            "pod_mtu": self.pod_mtu,
            "pod_cidr": str(self.pod_cidr),
            "node_cidr_mask": self.node_cidr_mask,
            "service_cidr": str(self.service_cidr),
            "service_node_port_range": "{}-{}".format(*self.node_port_range),
            "fabric_netns": self.fabric_netns,
            "nodes": [
                {
                    "name": n.name,
                    "index": n.index,
                    "underlay_ip": str(n.underlay_ip),
                    "pod_cidr": str(n.pod_cidr),
                    "netns": n.netns,
                }
                for n in self.nodes
            ],
            "pods": [
                {
                    "name": p.name,
                    "node": p.node,
                    "index": p.index,
                    "ip": str(p.ip),
                    "netns": p.netns,
                }
                for p in self.pods
            ],
            "proxy": self.proxy,
            "proxy_options": dict(self.proxy_options),
            "services": [svc.to_dict() for svc in self.services],
            "client": {"ip": str(self.client_ip), "netns": self.client_netns}
            if self.client_ip
            else None,
            "routes": list(self.routes),
            "gateway": {"ip": str(self.gateway_ip), "netns": self.gateway_netns}
            if self.gateway_ip
            else None,
            "control_plane": self.control_plane,
            "etcd_data_dir": self.etcd_data_dir,
            "images": [{"image": glob, "program": list(argv)} for glob, argv in self.images],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lab:
        return cls(
            name=data["name"],
            profile=data["profile"],
            profile_options=dict(data.get("profile_options", {})),
            underlay_cidr=IPv4Network(data["underlay_cidr"]),
            underlay_mtu=int(data["underlay_mtu"]),
            pod_mtu=int(data["pod_mtu"]),
            pod_cidr=IPv4Network(data["pod_cidr"]),
            node_cidr_mask=int(data["node_cidr_mask"]),
            service_cidr=IPv4Network(data["service_cidr"]),
            node_port_range=tuple(  # type: ignore[arg-type]
                int(x) for x in data.get("service_node_port_range", "30000-32767").split("-")
            ),
            nodes=tuple(
                Node(
                    name=n["name"],
                    index=int(n["index"]),
                    underlay_ip=IPv4Address(n["underlay_ip"]),
                    pod_cidr=IPv4Network(n["pod_cidr"]),
                    netns=n["netns"],
                )
                for n in data["nodes"]
            ),
            pods=tuple(
                Pod(
                    name=p["name"],
                    node=p["node"],
                    index=int(p["index"]),
                    ip=IPv4Address(p["ip"]),
                    netns=p["netns"],
                )
                for p in data["pods"]
            ),
            proxy=data.get("proxy"),
            proxy_options=dict(data.get("proxy_options", {})),
            services=tuple(Service.from_dict(d) for d in data.get("services", [])),
            client_ip=IPv4Address(data["client"]["ip"]) if data.get("client") else None,
            routes=tuple(data.get("routes", [])),
            gateway_ip=IPv4Address(data["gateway"]["ip"]) if data.get("gateway") else None,
            control_plane=data.get("control_plane"),
            etcd_data_dir=data.get("etcd_data_dir"),
            images=tuple((i["image"], tuple(i["program"])) for i in data.get("images", [])),
        )
