"""BIRD 2 configuration for the `bgp` profile, and the parser for `birdc show protocols`.

Pure: text in, text out. The configuration is what Calico's confd renders for its
node-to-node mesh, reduced to what the lab needs: one iBGP session per peer (AS 64512,
Calico's default), each node originating its pod CIDR and exporting only BGP-learned
routes into the kernel (they show as `proto bird`, RTPROT_BIRD = 12).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubenetlab.model import Lab, Node

RTPROT_BIRD = 12


def peer_protocol(node: Node) -> str:
    """BIRD symbol for the session to `node` (node names may hold `-`, symbols may not)."""
    return f"peer{node.index}"


def peers_of(lab: Lab, node: Node, reflector: str | None) -> list[Node]:
    """Full mesh: everyone else. With a route reflector: clients peer with it only."""
    if reflector is None or node.name == reflector:
        return [p for p in lab.nodes if p is not node]
    return [p for p in lab.nodes if p.name == reflector]


def render_config(lab: Lab, node: Node, asn: int, reflector: str | None) -> str:
    is_reflector = node.name == reflector
    topology = (
        "full mesh"
        if reflector is None
        else ("route reflector" if is_reflector else f"client of route reflector {reflector}")
    )
    # A reflector passes on what it learned; everyone originates only its own pod CIDR.
    export = 'proto = "pods" || source = RTS_BGP' if is_reflector else 'proto = "pods"'
    lines = [
        f"# kubenetlab lab {lab.name}: BIRD for node {node.name} ({topology}, AS {asn})",
        "log stderr all;",
        "debug protocols { states, events };",
        f"router id {node.underlay_ip};",
        "",
        "protocol device { scan time 5; }",
        "",
        "# Only routes learned over BGP go to the kernel; nothing is read from it.",
        "protocol kernel {",
        "  ipv4 { import none; export where source = RTS_BGP; };",
        "}",
        "",
        "# The node's pod CIDR, originated here (pods have /32 routes to their veths).",
        "protocol static pods {",
        "  ipv4;",
        f"  route {node.pod_cidr} unreachable;",
        "}",
        "",
        "# Retry fast: peers start within milliseconds of each other, not minutes.",
        "template bgp peers {",
        f"  local {node.underlay_ip} as {asn};",
        "  direct;",
        "  connect delay time 1;",
        "  connect retry time 1;",
        "  error wait time 1, 5;",
        f"  ipv4 {{ import all; export where {export}; gateway direct; }};",
        "}",
    ]
    for peer in peers_of(lab, node, reflector):
        lines += [
            "",
            f"protocol bgp {peer_protocol(peer)} from peers {{",
            f'  description "{peer.name}";',
            f"  neighbor {peer.underlay_ip} as {asn};",
        ]
        if is_reflector:
            lines.append("  rr client;")
        if peer.index < node.index:
            # One side of each pair opens the connection, so the two never collide
            # (a collision costs seconds of error wait before the retry).
            lines.append("  passive on;")
        lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Session:
    protocol: str
    state: str  # up | start | down …
    since: str
    info: str  # Established, Active, Connect …

    @property
    def established(self) -> bool:
        return self.info.startswith("Established")

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "protocol": self.protocol,
            "state": self.state,
            "info": self.info,
            "established": self.established,
            "since": self.since,
        }


def parse_protocols(text: str) -> list[Session]:
    """BGP rows of `birdc show protocols` (columns: Name Proto Table State Since Info)."""
    sessions = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) >= 5 and fields[1] == "BGP":
            info = fields[5].strip() if len(fields) > 5 else ""
            sessions.append(Session(fields[0], fields[3], fields[4], info))
    return sessions
