"""Synthetic Services for scale runs: N ClusterIP Services × E endpoints on given pods."""

from __future__ import annotations

from ipaddress import IPv4Network

from kubenetlab.services import Endpoint, Service, ServicePort


def synthetic_services(
    n: int,
    endpoints: list[Endpoint],
    service_cidr: IPv4Network,
    target_port: int = 8080,
    first: int = 10,
) -> tuple[Service, ...]:
    """`scale/svc-1 … svc-n`, ClusterIPs from .`first` up, every one backed by `endpoints`."""
    base = service_cidr.network_address + first
    if n + first >= service_cidr.num_addresses:
        raise ValueError(f"{n} Services do not fit {service_cidr}")
    return tuple(
        Service(
            "scale",
            f"svc-{i + 1}",
            str(base + i),
            (ServicePort("http", 80, target_port),),
            endpoints=tuple(endpoints),
        )
        for i in range(n)
    )
