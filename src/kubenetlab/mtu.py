"""`kubenetlab mtu`: encapsulation overhead, the pod MTU it leaves, and what CNIs choose.

Overheads come from `encap.ENCAPS` (with their sources). CNI choices from Flannel pkg/backend/vxlan
(link − 50), Calico's MTU docs (IPIP 1480, VXLAN 1450, WireGuard 1440 on 1500) and
Cilium pkg/mtu (MTU=0 auto-detects; WireGuard reserves 80).
"""

from __future__ import annotations

from typing import Any

from kubenetlab.encap import ENCAPS
from kubenetlab.errors import UsageError

# What each CNI sets for pods, as a function of the underlay (link) MTU. None: no such mode.
CNI_CHOICES: dict[str, dict[str, tuple[int | None, str]]] = {
    "flannel": {
        "none": (0, "host-gw backend: link MTU"),
        "vxlan": (50, "vxlan backend: link − 50 (flannel.1)"),
        "ipip": (20, "ipip backend: link − 20"),
        "wireguard": (80, "wireguard backend: link − 80"),
    },
    "calico": {
        "none": (0, "BGP, no encapsulation: link MTU"),
        "vxlan": (50, "VXLAN: link − 50 (1450 on 1500; − 70 over IPv6)"),
        "ipip": (20, "IPIP: link − 20 (1480 on 1500)"),
        "wireguard": (60, "WireGuard: link − 60 (1440 on 1500; − 80 over IPv6)"),
    },
    "cilium": {
        "none": (0, "native routing, MTU=0: link MTU"),
        "vxlan": (50, "tunnel vxlan, MTU=0 auto-detects and subtracts 50"),
        "geneve": (50, "tunnel geneve, MTU=0 auto-detects and subtracts 50 (+ options)"),
        "wireguard": (80, "encryption.type=wireguard: reserves 80 whatever the underlay family"),
        "ipsec": (77, "encryption.type=ipsec: subtracts the ESP overhead of the algorithm"),
    },
}


def calculate(underlay_mtu: int, encap: str, ipv6_underlay: bool = False) -> dict[str, Any]:
    if encap not in ENCAPS:
        raise UsageError(f"unknown encapsulation {encap!r} (known: {', '.join(ENCAPS)})")
    if not 576 <= underlay_mtu <= 65535:
        raise UsageError(f"--underlay-mtu {underlay_mtu} out of range 576-65535")
    e = ENCAPS[encap]
    overhead = e.v6 if ipv6_underlay else e.v4
    pod_mtu = underlay_mtu - overhead
    if pod_mtu < 1280 and ipv6_underlay:
        raise UsageError(f"pod MTU {pod_mtu} is below IPv6's minimum 1280")
    cnis = {}
    for cni, choices in CNI_CHOICES.items():
        if encap in choices:
            sub, how = choices[encap]
            if ipv6_underlay and cni == "calico" and encap in ("vxlan", "wireguard"):
                sub += 20
            cnis[cni] = {"pod_mtu": underlay_mtu - sub, "how": how}
        else:
            cnis[cni] = {"pod_mtu": None, "how": f"{cni} has no {encap} mode"}
    return {
        "schema_version": 1,
        "underlay_mtu": underlay_mtu,
        "underlay_family": "IPv6" if ipv6_underlay else "IPv4",
        "encap": encap,
        "overhead_bytes": overhead,
        "pod_mtu": pod_mtu,
        "source": e.source,
        "note": e.note,
        "largest_unfragmented": {
            "tcp_mss": pod_mtu - 40,
            "udp_payload": pod_mtu - 28,
            "icmp_ping_size": pod_mtu - 28,
        },
        "cni": cnis,
    }
