"""The Service shapes beyond ClusterIP/NodePort, with real traffic, for kube-proxy's
iptables and nftables modes: a LoadBalancer IP reached from the client (routed to the
announcing node, as MetalLB L2 does) that keeps the client IP under Local policy,
loadBalancerSourceRanges admitting one client address and dropping another, ClientIP
session affinity pinning 200 connections to one endpoint while a plain Service spreads,
and an external IP."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.lab.helpers import ask, lab, lab_exec

pytestmark = pytest.mark.lab

SPEC = """
profile: native
nodes: 2
pods_per_node: 2
services:
  - {name: lb-local, type: LoadBalancer, external_traffic_policy: Local, port: 80,
     target_port: 8080, load_balancer_ips: [198.18.100.10], pods: [node2-pod1]}
  - {name: lb-fw, type: LoadBalancer, port: 80, target_port: 8080,
     load_balancer_ips: [198.18.100.11], load_balancer_source_ranges: [198.18.0.254/32],
     pods: [node1-pod1, node2-pod2]}
  - {name: sticky, port: 80, target_port: 8080, session_affinity: ClientIP,
     pods: [node1-pod1, node2-pod1, node2-pod2]}
  - {name: spread, port: 81, target_port: 8080, pods: [node1-pod1, node2-pod1, node2-pod2]}
  - {name: ext, type: NodePort, port: 82, target_port: 8080, external_ips: [198.18.100.12],
     pods: [node2-pod2]}
"""

# Connect from a given source address (bound before connect), ask "?", print the reply.
FROM = """
import json, socket, sys
src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.settimeout(1.5)
s.bind((src, 0))
try:
    s.connect((host, port)); s.sendall(b"?"); print(json.dumps(s.recv(200).decode().split()))
except OSError as exc:
    print(json.dumps([type(exc).__name__]))
"""


@pytest.mark.parametrize("proxy", ["iptables", "nftables"])
def test_loadbalancer_source_ranges_affinity_and_external_ips(proxy: str, tmp_path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC)
    name = f"t-shape-{proxy}"[:20]
    with lab("-f", str(spec), "--name", name, "--proxy", proxy) as doc:
        client = doc["client"]["ip"]
        # LoadBalancer IP, Local: the node that announces it runs the endpoint; client IP kept.
        [[who, seen]] = ask(name, "client", "198.18.100.10", 80)
        assert who == "node2-pod1" and seen.split(":")[0] == client

        # Source ranges: the client's own address is admitted, a second one is dropped.
        other = "198.18.0.250"
        added = lab_exec(name, "client", "ip", "addr", "add", f"{other}/24", "dev", "knl-up")
        assert added.returncode == 0, added.stderr

        def from_(src: str) -> list[str]:
            out = lab_exec(name, "client", sys.executable, "-c", FROM, src, "198.18.100.11", "80")
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        assert from_(client)[0] in {"node1-pod1", "node2-pod2"}
        assert from_(other) == ["TimeoutError"]

        # ClientIP affinity: 200 connections from one pod, one endpoint; without it, a spread.
        svcs = {s["name"]: s["cluster_ip"] for s in doc["services"]}
        sticky = {r[0] for r in ask(name, "node1-pod2", svcs["sticky"], 80, n=200)}
        assert len(sticky) == 1, sticky
        assert len({r[0] for r in ask(name, "node1-pod2", svcs["spread"], 81, n=200)}) == 3

        # An external IP, routed to a node, reaches the Service.
        assert ask(name, "client", "198.18.100.12", 82)[0][0] == "node2-pod2"


# A TCP SYN to 127.0.0.1 that arrives from the fabric, as only a hostile neighbour would
# send it: an Ethernet frame straight to node1's MAC (no stack would route 127/8 out).
LOCALNET_SYN = """
import socket, struct, sys
def csum(b):
    b += b"\\0" * (len(b) % 2)
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
dst_mac, src_mac = (bytes.fromhex(m.replace(":", "")) for m in sys.argv[1:3])
src, dst = socket.inet_aton(sys.argv[3]), socket.inet_aton("127.0.0.1")
tcp = struct.pack("!HHIIBBHHH", 40000, int(sys.argv[4]), 1, 0, 5 << 4, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, 20) + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, src, dst)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("knl-up", 0))
for _ in range(3):
    s.send(dst_mac + src_mac + b"\\x08\\x00" + ip + tcp)
"""


def _mac(name: str, member: str) -> str:
    out = lab_exec(name, member, "ip", "-j", "link", "show", "dev", "knl-up")
    return json.loads(out.stdout)[0]["address"]


def _drops(name: str) -> int:
    out = lab_exec(
        name, "node1", "iptables", "-w", "-t", "filter", "-L", "KUBE-FIREWALL", "-v", "-x", "-n"
    )
    assert out.returncode == 0, out.stderr
    return sum(int(line.split()[0]) for line in out.stdout.splitlines()[2:] if "DROP" in line)


def test_localhost_nodeports_and_the_localnet_drop(tmp_path) -> None:
    """kube-proxy iptables mode (nftables mode has no localhost NodePorts upstream): a node
    reaches a NodePort on 127.0.0.1, counted by nfacct where the kernel has it, and a
    packet for 127.0.0.1 from outside the node is dropped by KUBE-FIREWALL."""
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC)
    name = "t-shape-localhost"
    with lab("-f", str(spec), "--name", name, "--proxy", "iptables") as doc:
        node_port = next(s for s in doc["services"] if s["name"] == "ext")["ports"][0]["node_port"]
        assert ask(name, "node1", "127.0.0.1", node_port)[0][0] == "node2-pod2"
        counted = lab_exec(name, "node1", "nfacct", "get", "localhost_nps_accepted_pkts")
        assert counted.returncode == 0, counted.stderr
        assert int(re.search(r"pkts = (\d+)", counted.stdout).group(1)) > 0  # type: ignore[union-attr]
        before = _drops(name)
        sent = lab_exec(name, "client", sys.executable, "-c", LOCALNET_SYN,
                        _mac(name, "node1"), _mac(name, "client"), doc["client"]["ip"], "22")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert _drops(name) - before == 3
