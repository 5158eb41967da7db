"""The eBPF proxy's programs, live: loaded per node, attached where Cilium attaches them.

Per node: the lab's bpf file system gets <node>/progs and <node>/maps (bpftool loads
bpf/lb.bpf.c; libbpf does the CO-RE relocations); tcx ingress of the node's uplink gets
`lb_uplink_ingress` (NodePort, SNAT replies, DSR options) and tcx ingress of the node's
end of every pod veth gets `lb_pod_ingress` (replies of local and DSR backends). The
socket-LB programs go on a cgroup v2 tree the lab creates,
<v2>/knl-<lab>-socklb/<node netns>/<member netns>, that every process kubenetlab starts
in one of the node's pods (or the node itself) joins; nothing else is ever in it.
Everything is in the ledger before it exists; `lab down` unmounts the file system (the
pins go), removes the cgroups (their programs go) and the namespaces (their links go).
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenetlab import bpf as bpf_build
from kubenetlab.components.base import Component
from kubenetlab.errors import EnvironmentProblem
from kubenetlab.kernel import bpf, cgroups, netns
from kubenetlab.kernel.ledger import Ledger, bpf_dir
from kubenetlab.model import Lab
from kubenetlab.topology import NODE_UPLINK, node_pod_port

SOCKET_HOOKS = {
    "connect4": "sock4_connect",
    "sendmsg4": "sock4_sendmsg",
    "recvmsg4": "sock4_recvmsg",
    "getpeername4": "sock4_getpeername",
}
TCX_KERNEL = (6, 6)


@dataclass(frozen=True)
class NodeDatapath:
    node: str
    netns: str
    pin_dir: Path
    pod_ports: tuple[str, ...]  # node-side veth ends
    members: tuple[str, ...]  # namespaces whose processes get socket LB (node + its pods)


def _kernel_version() -> tuple[int, int]:
    parts = platform.release().split(".")
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def requirements() -> None:
    """Exit 3, naming what is missing, before anything is built."""
    bpf_build.require()
    if cgroups.v2_root() is None:
        raise EnvironmentProblem(
            "the eBPF proxy needs a cgroup v2 hierarchy for socket LB: mount one "
            "(mount -t cgroup2 none /sys/fs/cgroup/unified)"
        )
    if _kernel_version() < TCX_KERNEL:
        raise EnvironmentProblem(
            f"the eBPF proxy attaches with tcx, which needs Linux 6.6 or newer "
            f"(this is {platform.release()})"
        )


class EbpfDatapath(Component):
    name = "ebpf-datapath"

    def wanted(self, lab: Lab) -> bool:
        return lab.proxy == "ebpf"

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return (("clang", "clang"), ("bpftool", "bpftool"))

    def plan(self, lab: Lab) -> list[NodeDatapath]:
        requirements()
        root = bpf_dir(lab.name)
        return [
            NodeDatapath(
                node.name,
                node.netns,
                root / node.name,
                tuple(node_pod_port(p) for p in lab.pods_on(node.name)),
                (node.netns, *(p.netns for p in lab.pods_on(node.name))),
            )
            for node in lab.nodes
        ]

    def start(self, lab: Lab, ledger: Ledger, plan: list[NodeDatapath]) -> dict[str, Any]:
        obj = bpf_build.object_file()
        mount = bpf_dir(lab.name)
        ledger.record_mount(str(mount))
        bpf.mount_bpffs(mount)
        v2 = cgroups.v2_root()
        assert v2 is not None  # requirements() checked
        tree = v2 / cgroups.socket_lb_name(lab.name)
        ledger.record_cgroup(str(tree))
        tree.mkdir(exist_ok=True)
        for node in plan:
            node.pin_dir.mkdir()
            bpf.load_all(obj, node.pin_dir)
            self._attach_tc(ledger, node)
            self._attach_sockets(ledger, node, tree / node.netns)
        ledger.save()
        return {"ebpf_object": str(obj)}

    def _attach_tc(self, ledger: Ledger, node: NodeDatapath) -> None:
        links = [(NODE_UPLINK, "lb_uplink_ingress")] + [
            (p, "lb_pod_ingress") for p in node.pod_ports
        ]
        fds = {name: bpf.obj_get(node.pin_dir / "progs" / name) for _, name in links}
        try:
            ledger.record_bpf_links(
                [
                    {"netns": node.netns, "target": ifname, "hook": "tcx_ingress", "program": prog}
                    for ifname, prog in links
                ]
            )
            with netns.inside(node.netns):
                for ifname, prog in links:
                    bpf.prog_attach(socket.if_nametoindex(ifname), fds[prog], "tcx_ingress")
        finally:
            for fd in fds.values():
                os.close(fd)

    def _attach_sockets(self, ledger: Ledger, node: NodeDatapath, group: Path) -> None:
        group.mkdir()
        for member in node.members:
            (group / member).mkdir()
        cg = os.open(group, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for hook, prog in SOCKET_HOOKS.items():
                ledger.record_bpf_links(
                    [{"netns": node.netns, "target": str(group), "hook": hook, "program": prog}]
                )
                fd = bpf.obj_get(node.pin_dir / "progs" / prog)
                try:
                    bpf.prog_attach(cg, fd, hook)
                finally:
                    os.close(fd)
        finally:
            os.close(cg)

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        from kubenetlab.kernel import lbmaps

        out = {}
        for node in lab.nodes:
            pins = bpf_dir(lab.name) / node.name
            if (pins / "maps").exists():
                out[node.name] = lbmaps.stats(str(pins))
        return {"counters": out, "attachments": len(ledger.bpf_links)} if out else {}

    def stop(self, lab: Lab, ledger: Ledger) -> None:
        """Nothing to end: the pins go with the lab's bpf file system, the socket programs
        with its cgroups and the tc programs with its namespaces (lab teardown)."""
