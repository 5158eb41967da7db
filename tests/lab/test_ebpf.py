"""The eBPF proxy with real traffic: socket LB for ClusterIP (no NAT, no conntrack, the
service as the socket's peer), NodePort in snat and dsr modes (DSR replies never touch the
receiving node), Local policy, and endpoint changes. The semantics every proxy shares
(ClusterIP, NodePort Local, health checks, hairpin, no endpoints, spread) are in
test_services.py, parametrised over ebpf too."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from kubenetlab.live import attach
from tests.lab.conftest import run_cli
from tests.lab.helpers import ask, lab, lab_exec

pytestmark = pytest.mark.lab

SPEC = """
profile: native
nodes: 2
pods_per_node: 2
services:
  - {name: web, port: 80, target_port: 8080, pods: [node1-pod1, node2-pod1, node2-pod2]}
  - {name: api, type: NodePort, port: 81, target_port: 8080, node_port: 30080, pods: [node2-pod1]}
"""

PEER = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"?")
print(s.recv(200).decode().strip(), "|", "%s:%d" % s.getpeername())
"""

# Count the TCP packets arriving on an interface whose source port is the backend's, i.e.
# replies coming back through this node. An ETH_P_ALL packet socket is a tap that sees
# every frame before tc ingress (one bound to ETH_P_IP would miss what tc redirects).
SNIFF = """
import select, socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
port, end, replies, seen = int(sys.argv[2]), time.monotonic() + float(sys.argv[3]), 0, 0
print("ready", flush=True)
while time.monotonic() < end:
    if not select.select([s], [], [], 0.1)[0]:
        continue
    frame, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or frame[12:14] != b"\\x08\\x00" or frame[23] != 6:
        continue
    seen += 1
    ihl = (frame[14] & 15) * 4
    replies += struct.unpack("!H", frame[14 + ihl:16 + ihl])[0] == port
print(seen, replies)
"""


def _spec(tmp_path, extra: str = "") -> str:
    path = tmp_path / "lab.yaml"
    path.write_text(SPEC + extra)
    return str(path)


def test_socket_lb_translates_at_connect_without_nat(tmp_path) -> None:
    with lab("-f", _spec(tmp_path), "--name", "t-ebpf-sock", "--proxy", "ebpf") as doc:
        web = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "web")
        pods = {p["name"]: p["ip"] for p in doc["pods"]}
        for _ in range(5):
            out = lab_exec("t-ebpf-sock", "node1-pod2", sys.executable, "-c", PEER, web, "80")
            assert out.returncode == 0, out.stderr
            reply, peer = out.stdout.split("|")
            who, seen = reply.split()
            assert who in {"node1-pod1", "node2-pod1", "node2-pod2"}
            assert seen.split(":")[0] == pods["node1-pod2"]  # the backend sees the pod itself
            assert peer.strip() == f"{web}:80"  # getpeername: the Service, not the backend
        # Translated at connect(): no packet carried the ClusterIP, so no conntrack entry names it.
        for member in ("node1", "node1-pod2", "node2"):
            table = lab_exec("t-ebpf-sock", member, "cat", "/proc/net/nf_conntrack")
            assert web not in table.stdout
        counters = doc_counters("t-ebpf-sock")
        assert counters["node1"]["sock_xlate"] >= 5


def doc_counters(name: str) -> dict[str, dict[str, int]]:
    from tests.lab.helpers import status

    return status(name)["ebpf"]["counters"]


def _sniffed_requests(name: str, node: str, client_target: tuple[str, int], n: int) -> tuple:
    sniffer = subprocess.Popen(
        [sys.executable, "-m", "kubenetlab", "lab", "exec", name, node, "--",
         sys.executable, "-c", SNIFF, "knl-up", "8080", "6"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sniffer.stdout is not None
    assert sniffer.stdout.readline().strip() == "ready"
    answers = ask(name, "client", client_target[0], client_target[1], n=n)
    out, _ = sniffer.communicate(timeout=30)
    seen, replies = map(int, out.split())
    return answers, seen, replies


@pytest.mark.parametrize("mode", ["snat", "dsr"])
def test_nodeport_replies_skip_the_receiving_node_only_in_dsr(mode: str, tmp_path) -> None:
    name = f"t-ebpf-{mode}"
    with lab("-f", _spec(tmp_path), "--name", name, "--proxy", "ebpf", "--lb-mode", mode) as doc:
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}
        client = doc["client"]["ip"]
        # node1 receives; the only backend is on node2.
        answers, seen, replies = _sniffed_requests(name, "node1", (nodes["node1"], 30080), 20)
        assert [a[0] for a in answers] == ["node2-pod1"] * 20  # the client got every reply
        sources = {a[1].split(":")[0] for a in answers}
        assert seen > 0
        if mode == "dsr":
            assert sources == {client}  # the backend sees the real client
            assert replies == 0, f"{replies} reply packets crossed node1's uplink"
            counters = doc_counters(name)
            assert counters["node1"]["dsr_option_added"] >= 20  # one per SYN
            assert counters["node2"]["dsr_option_seen"] >= 20
            table = run_cli("lab", "status", name).stdout  # the table shows the counters too
            assert "eBPF service proxy (lb_mode dsr" in table and "dsr_option_added" in table
        else:
            assert sources == {nodes["node1"]}  # SNATed to the receiving node
            assert replies >= 20 * 3  # SYN-ACK, data, FIN at least: all back through node1


# Closed with RST (SO_LINGER 0): no TIME_WAIT, so 40 connections fit a dozen ports.
CONNECT_MANY = """
import socket, struct, sys
used = []
for _ in range(int(sys.argv[3])):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    used.append(s.getsockname()[1])
    s.sendall(b"?")
    s.recv(200)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print(" ".join(map(str, used)))
"""


def test_a_nodes_ephemeral_ports_skip_the_nodeport_range(tmp_path) -> None:
    """compare's TCP_CRR baseline hung when node1's kernel picked source port 30080: the
    SYN-ACK coming back to node1:30080 was taken for NodePort traffic. Nodes reserve the
    NodePort range, as Cilium's auto-protect-node-port-range does."""
    spec = _spec(tmp_path, "service_node_port_range: 30080-30085\n")
    with lab("-f", spec, "--name", "t-ebpf-eph", "--proxy", "ebpf") as doc:
        reserved = lab_exec(
            "t-ebpf-eph", "node1", "cat", "/proc/sys/net/ipv4/ip_local_reserved_ports"
        )
        assert reserved.stdout.strip() == "30080-30085"
        # ephemeral ports from a range around the NodePort: only 30086-30095 may be used
        narrow = lab_exec(
            "t-ebpf-eph", "node1", "sysctl", "-w", "net.ipv4.ip_local_port_range=30078 30095"
        )
        assert narrow.returncode == 0, narrow.stderr
        backend = next(p["ip"] for p in doc["pods"] if p["name"] == "node2-pod1")
        out = lab_exec(
            "t-ebpf-eph", "node1", sys.executable, "-c", CONNECT_MANY, backend, "8080", "40"
        )
        assert out.returncode == 0, out.stderr  # a hijacked SYN-ACK is a 2 s timeout here
        ports = {int(p) for p in out.stdout.split()}
        assert ports and not ports & set(range(30080, 30086)), sorted(ports)


def test_local_policy_drops_without_a_local_endpoint_and_keeps_the_client(tmp_path) -> None:
    extra = (
        "  - {name: loc, type: NodePort, port: 82, target_port: 8080, node_port: 30081,"
        " pods: [node2-pod2], external_traffic_policy: Local}\n"
    )
    with lab("-f", _spec(tmp_path, extra), "--name", "t-ebpf-local", "--proxy", "ebpf") as doc:
        nodes = {n["name"]: n["underlay_ip"] for n in doc["nodes"]}
        [[who, seen]] = ask("t-ebpf-local", "client", nodes["node2"], 30081)
        assert who == "node2-pod2" and seen.split(":")[0] == doc["client"]["ip"]
        assert ask("t-ebpf-local", "client", nodes["node1"], 30081, timeout=1.5) == [
            ["TimeoutError"]
        ]
        assert doc_counters("t-ebpf-local")["node1"]["nodeport_no_backend"] >= 1
        # East-west, socket LB uses every backend whatever the policy (Cilium's two scopes).
        loc = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "loc")
        assert ask("t-ebpf-local", "node1-pod1", loc, 82)[0][0] == "node2-pod2"


def test_endpoint_change_moves_new_connections_at_once(tmp_path) -> None:
    with lab("-f", _spec(tmp_path), "--name", "t-ebpf-move", "--proxy", "ebpf") as doc:
        web = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "web")
        started = time.monotonic()
        synced = attach("t-ebpf-move").set_endpoints("web", ["node2-pod2"])
        # Only web's entries change (3 slots → 1, on every node), written in batches.
        assert all(r.mode == "delta" and 0 < r.changed <= 4 for r in synced.values()), synced
        replies = ask("t-ebpf-move", "node1-pod1", web, 80, n=20)
        assert {r[0] for r in replies} == {"node2-pod2"}, time.monotonic() - started


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(f"{peer[0]} {len(data)}".encode(), peer)
"""

# Unconnected sendto()/recvfrom(): the sendmsg4/recvmsg4 hooks, or plain packets.
UDP_ASK = """
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
out = []
for size in map(int, sys.argv[3].split(",")):
    s.sendto(b"x" * size, (sys.argv[1], int(sys.argv[2])))
    try:
        data, peer = s.recvfrom(65535)
        out.append([*data.decode().split(), f"{peer[0]}:{peer[1]}"])
    except TimeoutError:
        out.append(["timeout"])
print(json.dumps(out))
"""


def test_udp_socket_lb_and_dsr_with_a_full_size_datagram(tmp_path) -> None:
    """UDP through socket LB (sendmsg4 picks, recvmsg4 reports the Service as the sender)
    and through a DSR NodePort, where every datagram carries the 8-byte option: one that
    fills the MTU has no room for it and is dropped and counted, not sent fragmented."""
    from kubenetlab.kernel import procs
    from kubenetlab.kernel.ledger import Ledger

    extra = (
        "  - {name: dns, type: NodePort, protocol: UDP, port: 53, target_port: 5353,"
        " node_port: 30053, pods: [node2-pod1]}\n"
    )
    name = "t-ebpf-udp"
    with lab(
        "-f", _spec(tmp_path, extra), "--name", name, "--proxy", "ebpf", "--lb-mode", "dsr"
    ) as doc:
        ledger = Ledger.load(name)
        assert ledger is not None
        pod = next(p for p in doc["pods"] if p["name"] == "node2-pod1")
        procs.spawn(
            ledger, pod["netns"], [sys.executable, "-c", UDP_ECHO, "5353"], role="test-echo"
        )
        time.sleep(0.5)
        dns = next(s["cluster_ip"] for s in doc["services"] if s["name"] == "dns")
        pods = {p["name"]: p["ip"] for p in doc["pods"]}
        node1 = next(n["underlay_ip"] for n in doc["nodes"] if n["name"] == "node1")

        def udp(member: str, host: str, port: int, sizes: str) -> list[list[str]]:
            out = lab_exec(name, member, sys.executable, "-c", UDP_ASK, host, str(port), sizes)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        assert udp("node1-pod2", dns, 53, "100") == [[pods["node1-pod2"], "100", f"{dns}:53"]]
        client = doc["client"]["ip"]
        small, full = udp("client", node1, 30053, "100,1472")
        assert small == [client, "100", f"{node1}:30053"]  # client kept, reply from the Service
        assert full == ["timeout"]  # 1472 + 28 = 1500: no room for the option
        assert doc_counters(name)["node1"]["dsr_too_big"] >= 1


def test_maglev_spreads_nodeport_connections(tmp_path) -> None:
    extra = (
        "  - {name: mg, type: NodePort, port: 83, target_port: 8080, node_port: 30090,"
        " pods: [node1-pod1, node2-pod1, node2-pod2]}\n"
    )
    name = "t-ebpf-maglev"
    args = ("--proxy", "ebpf", "--lb-algorithm", "maglev")
    with lab("-f", _spec(tmp_path, extra), "--name", name, *args) as doc:
        node1 = next(n["underlay_ip"] for n in doc["nodes"] if n["name"] == "node1")
        answers = ask(name, "client", node1, 30090, n=60)
        # Each new connection (a new source port) hashes to its own slot of the 16,381.
        assert {a[0] for a in answers} == {"node1-pod1", "node2-pod1", "node2-pod2"}
        assert doc["proxy_options"] == {"lb_algorithm": "maglev"}
