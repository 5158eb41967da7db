"""A Pod's network namespace, made and removed for a node's virtual kubelet.

The kubelets (Go, go/knl-kubelet) ask this for each Pod bound to their node, as a kubelet
calls its CNI plugin: `add` wires a namespace exactly as the lab's own pods are wired
(topology's pod plan: a veth to the node, a /32 from the node's pod CIDR, a route via the
node's pod gateway) and answers {"netns", "ip", "cgroup"}; `del` removes it. On a lab
running the eBPF proxy, "cgroup" is the Pod's directory in the node's socket-LB cgroup tree,
which the kubelet starts every container (and `kubectl exec`) in, so Cilium-style socket LB
covers the Pod's processes as it covers the lab's own pods'. One topology
implementation serves both. One server per lab (`serve`, on a Unix socket in the lab's
state dir, started by the kubelets component) answers every node: a Python process per Pod
would spend half a second importing before its first netlink call.

Each Pod's record is written under the lab's state dir (`pods/<uid>.json`) before its
namespace exists: `lab down` reads them, and `lab down --all` finds any leftover by its
`knl-<lab>-` name. The lab's ledger file itself belongs to the `lab up` that wrote it.

    python -m kubenetlab.controlplane.podnet serve --lab L --socket PATH
    (then, one JSON line per connection: {"action": "add", "node": N, "pod": "NS/NAME",
     "uid": UID} or {"action": "del", "uid": UID}; the answer is one JSON line)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socketserver
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from kubenetlab.kernel import cgroups, netns
from kubenetlab.kernel.apply import apply_in_order
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab, Node, Pod, netns_prefix
from kubenetlab.plan import Netns
from kubenetlab.topology import node_pod_port, pod_plan

FIRST_API_POD_INDEX = 1000  # veth names knl-p1000…: the spec's pods use knl-p1…
POD_IFINDEX = 10000  # inside the pod's own namespace, as the lab's pods
MAX_POD_INDEX = 65536  # the index is two bytes of the veth's MACs (topology.veth_macs)


def records_dir(ledger: Ledger) -> Path:
    return ledger.state_dir / "pods"


def records(ledger: Ledger) -> list[dict[str, Any]]:
    out = []
    for path in sorted(records_dir(ledger).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # half-written: its namespace, if any, carries the lab's prefix
    return out


@contextmanager
def _node_lock(ledger: Ledger, node: str) -> Iterator[None]:
    """One allocation at a time per node (the kubelet creates pods concurrently)."""
    records_dir(ledger).mkdir(parents=True, exist_ok=True)
    with open(records_dir(ledger) / f".lock-{node}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_record(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def _allocate(lab: Lab, node: Node, taken: list[dict[str, Any]]) -> tuple[IPv4Address, int]:
    """The lowest free address of the node's pod CIDR (not its gateway, not a spec pod's)
    and the lowest free veth index."""
    used = {str(p.ip) for p in lab.pods_on(node.name)} | {r["ip"] for r in taken}
    used.add(str(node.pod_gateway))
    ip = next((h for h in node.pod_cidr.hosts() if str(h) not in used), None)
    if ip is None:
        raise OSError(f"node {node.name}'s pod CIDR {node.pod_cidr} has no free address")
    indexes = {r["index"] for r in taken} | {p.index for p in lab.pods_on(node.name)}
    index = next((i for i in range(FIRST_API_POD_INDEX, MAX_POD_INDEX) if i not in indexes), None)
    if index is None:
        raise OSError(f"node {node.name} has no free pod index")
    return ip, index


def _free_ifindex(ns: str) -> int:
    """An interface index not yet used in the node's namespace."""
    from pyroute2 import IPRoute

    with netns.inside(ns):
        ipr = IPRoute(groups=0)  # bound to the namespace it is made in
    try:
        used = [int(link["index"]) for link in ipr.get_links()]
    finally:
        ipr.close()
    return max([*used, POD_IFINDEX]) + 1


def add(ledger: Ledger, lab: Lab, node_name: str, pod_key: str, uid: str) -> dict[str, Any]:
    node = next(n for n in lab.nodes if n.name == node_name)
    path = records_dir(ledger) / f"{uid}.json"
    if path.exists():  # the kubelet asked again (a retry): the same answer
        return json.loads(path.read_text())
    with _node_lock(ledger, node_name):  # one pod at a time per node: its ifindexes too
        mine = [r for r in records(ledger) if r["node"] == node_name]
        ip, index = _allocate(lab, node, mine)
        ns = f"{netns_prefix(lab.name)}pod-{uid[:13]}"
        record = {"uid": uid, "pod": pod_key, "node": node_name, "netns": ns, "ip": str(ip),
                  "index": index, "cgroup": _socket_lb_cgroup(lab, node, ns)}  # fmt: skip
        _write_record(path, record)  # before the namespace exists
        pod = Pod(pod_key, node_name, index, ip, ns)
        objects = [Netns(ns), *pod_plan(lab, node, pod)]
        port = node_pod_port(pod)
        try:
            apply_in_order(objects, assigned={(node.netns, port): _free_ifindex(node.netns)})
            if record["cgroup"]:  # inside the lab's recorded tree: removed with it
                Path(record["cgroup"]).mkdir(exist_ok=True)
        except BaseException:
            remove(ledger, uid)
            raise
    return record


def remove(ledger: Ledger, uid: str) -> bool:
    path = records_dir(ledger) / f"{uid}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    netns.remove(record["netns"])  # its veth goes with it; so does the node's end
    if record.get("cgroup"):  # its processes are gone (the kubelet ended them first)
        cgroups.remove(record["cgroup"])
    path.unlink(missing_ok=True)
    return True


def _socket_lb_cgroup(lab: Lab, node: Node, ns: str) -> str:
    """The Pod's cgroup in the eBPF proxy's tree (<v2>/knl-<lab>-socklb/<node>/<pod>), whose
    parent carries the node's socket-LB programs; "" when the lab has no eBPF proxy."""
    root = cgroups.v2_root()
    if lab.proxy != "ebpf" or root is None:
        return ""
    return str(root / cgroups.socket_lb_name(lab.name) / node.netns / ns)


def handle(ledger: Ledger, lab: Lab, request: dict[str, Any]) -> dict[str, Any]:
    """One request: the record of an added Pod, or {} after a delete; {"error"} on failure."""
    try:
        if request.get("action") == "add":
            node, pod, uid = str(request["node"]), str(request["pod"]), str(request["uid"])
            return add(ledger, lab, node, pod, uid)
        if request.get("action") == "del":
            remove(ledger, str(request["uid"]))
            return {}
        return {"error": f"unknown action {request.get('action')!r}"}
    except Exception as exc:  # the kubelet gets the reason; the server goes on
        return {"error": f"pod network {request.get('action')} failed: {exc}"}


def serve(ledger: Ledger, path: Path) -> None:
    """Answer the lab's kubelets on a Unix socket, a thread per connection."""
    lab = Lab.from_dict(ledger.lab)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                request = json.loads(self.rfile.readline())
            except ValueError as exc:
                answer: dict[str, Any] = {"error": f"not JSON: {exc}"}
            else:
                answer = handle(ledger, lab, request)
            self.wfile.write((json.dumps(answer) + "\n").encode())

    class Server(socketserver.ThreadingUnixStreamServer):
        request_queue_size = 4096  # a Deployment's burst of pods over every node
        daemon_threads = True

    path.unlink(missing_ok=True)
    with Server(str(path), Handler) as server:
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubenetlab-podnet")
    parser.add_argument("action", choices=("serve",))
    parser.add_argument("--lab", required=True)
    parser.add_argument("--socket", required=True, type=Path)
    args = parser.parse_args(argv)
    ledger = Ledger.load(args.lab)
    if ledger is None:
        print(f"no lab named {args.lab!r} is up", file=sys.stderr)
        return 3
    serve(ledger, args.socket)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
