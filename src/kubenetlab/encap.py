"""Encapsulation overheads: the one table the MTU calculator and the routing profiles read.

Overheads for an IPv4 underlay (IPv6 in brackets), and where they come from:
VXLAN 50 [70] (RFC 7348: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14),
Geneve 50 [70] + options (RFC 8926), IPIP 20 [40] (RFC 2003 / RFC 2473),
GRE 24 [44] (RFC 2784: IP 20 + GRE 4; 38 with an inner Ethernet header, gretap),
WireGuard 60 [80] (IP 20 + UDP 8 + WireGuard header 16 + Poly1305 tag 16),
IPsec ESP tunnel mode about 73-77 (IP 20 + ESP 8 + IV 8 + trailer 2 + ICV 16 +
padding 0-3 for AES-GCM), none 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Encap:
    name: str
    v4: int
    v6: int
    source: str
    note: str = ""


ENCAPS = {
    e.name: e
    for e in (
        Encap("none", 0, 0, "no encapsulation (native routing, BGP, host-gw)"),
        Encap("vxlan", 50, 70, "RFC 7348: outer IP 20/40 + UDP 8 + VXLAN 8 + inner Ethernet 14"),
        Encap(
            "geneve",
            50,
            70,
            "RFC 8926: outer IP 20/40 + UDP 8 + Geneve 8 + inner Ethernet 14",
            "plus 4-byte multiples of options (Cilium DSR via Geneve adds some)",
        ),
        Encap("ipip", 20, 40, "RFC 2003 IPv4-in-IPv4 20; RFC 2473 IPv6 tunnel 40"),
        Encap("gre", 24, 44, "RFC 2784: outer IP 20/40 + GRE 4", "38 with inner Ethernet (gretap)"),
        Encap(
            "wireguard", 60, 80, "outer IP 20/40 + UDP 8 + WireGuard header 16 + Poly1305 tag 16"
        ),
        Encap(
            "ipsec",
            77,
            97,
            "ESP tunnel mode: outer IP 20/40 + ESP 8 + IV 8 + trailer 2 + ICV 16 "
            "+ padding 0-3 (AES-GCM)",
            "73-77 on IPv4 depending on padding; 77 is the safe figure",
        ),
    )
}


def overhead(name: str, ipv6_underlay: bool = False) -> int:
    """Bytes the encapsulation adds to every packet."""
    encap = ENCAPS[name]
    return encap.v6 if ipv6_underlay else encap.v4
