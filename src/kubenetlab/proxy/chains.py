"""Chain names exactly as kube-proxy derives them, so rule dumps can be compared line by line.

iptables mode (pkg/proxy/iptables/proxier.go, portProtoHash / servicePortEndpointChainName):
first 16 characters of base32(sha256(servicePortName + protocol)), where servicePortName
is "ns/name:port" and protocol is lower case; endpoint chains hash the endpoint
"ip:port" on top. nftables mode (pkg/proxy/nftables): 8 characters of
base32(sha256("ns/name/proto/port")), then that same text; endpoint chains append
"__ip/port". Checked against upstream tests: ns1/svc1:p80 → KUBE-SVC-XPGD46QRK7WJZT7O,
its endpoint 10.180.0.1:80 → KUBE-SEP-SXIVWICOYRO3J4NJ, service-ULMVA6XW-ns1/svc1/tcp/p80.
"""

from __future__ import annotations

import base64
import hashlib


def _b32(text: str, n: int) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


def service_port_name(namespace: str, name: str, port: str) -> str:
    return f"{namespace}/{name}:{port}"


def iptables_chain(prefix: str, namespace: str, name: str, port: str, protocol: str) -> str:
    """KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW- + hash of "ns/name:port" + protocol."""
    return f"{prefix}-{_b32(service_port_name(namespace, name, port) + protocol.lower(), 16)}"


def iptables_endpoint_chain(
    namespace: str, name: str, port: str, protocol: str, endpoint: str
) -> str:
    """KUBE-SEP- + hash of "ns/name:port" + protocol + "ip:port"."""
    text = service_port_name(namespace, name, port) + protocol.lower() + endpoint
    return f"KUBE-SEP-{_b32(text, 16)}"


def nft_chain(prefix: str, namespace: str, name: str, port: str, protocol: str) -> str:
    """service-/local-/external-/firewall- + 8-char hash + "-ns/name/proto/port"."""
    base = f"{namespace}/{name}/{protocol.lower()}/{port}"
    return f"{prefix}-{_b32(base, 8)}-{base}"


def nft_endpoint_chain(
    namespace: str, name: str, port: str, protocol: str, ip: str, target: int
) -> str:
    base = f"{namespace}/{name}/{protocol.lower()}/{port}__{ip}/{target}"
    return f"endpoint-{_b32(base, 8)}-{base}"


def probability(i: int, n: int) -> str:
    """Rule i (0-based) of n endpoints matches with 1/(n−i), printed as kube-proxy prints it."""
    return f"{1.0 / (n - i):.10f}"
