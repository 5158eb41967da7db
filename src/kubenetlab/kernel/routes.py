"""Read a namespace's IPv4 main routing table (pyroute2), for convergence and status."""

from __future__ import annotations

from typing import Any

from kubenetlab.kernel import netns

# rtnetlink protocol numbers, as /etc/iproute2/rt_protos names them.
PROTOCOLS = {2: "kernel", 3: "boot", 4: "static", 12: "bird"}
RT_TABLE_MAIN = 254


def routes(ns: str) -> list[dict[str, Any]]:
    from pyroute2 import IPRoute  # only here: pyroute2 takes a third of a second to import

    with netns.inside(ns):
        ipr = IPRoute()
    try:
        found = []
        for msg in ipr.get_routes(family=2, table=RT_TABLE_MAIN):
            dst = msg.get_attr("RTA_DST")
            proto = msg["proto"]
            found.append(
                {
                    "dst": f"{dst}/{msg['dst_len']}" if dst else "default",
                    "via": msg.get_attr("RTA_GATEWAY"),
                    "proto": PROTOCOLS.get(proto, str(proto)),
                }
            )
        return found
    finally:
        ipr.close()
