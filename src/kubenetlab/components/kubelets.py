"""A kubelet per lab node (`control_plane: kubernetes`): knl-kubelet — upstream
virtual-kubelet with kubenetlab's provider (go/knl-kubelet) — in the node's namespace, as
`system:node:<name>`, serving the kubelet API on the node's fabric address.

Before the kubelets start, the lab (as admin) creates each Node with what the lab's plan
already decided and a kubelet could not set itself: its pod CIDR (kube-controller-manager's
node IPAM is off) and labels. The kubelets then keep the Nodes' status and Leases.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.components.kubernetes import last_log_line
from kubenetlab.controlplane import objects, pki
from kubenetlab.controlplane.upstream import KUBERNETES_VERSION
from kubenetlab.errors import EnvironmentProblem, KnlError
from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.kube.labels import PROXY_LABEL, ROUTING_LABEL
from kubenetlab.model import Lab, Node

ROLE = "kubelet"
PODNET_ROLE = "podnet"
READY_SECONDS = 60.0


def kubelet_program() -> Path:
    """Built by `make setup` beside kubenetlab in the virtualenv."""
    path = Path(sys.executable).parent / "knl-kubelet"
    if not os.access(path, os.X_OK):
        raise EnvironmentProblem(
            f"{path} is not built: run `make setup` (it builds go/knl-kubelet with Go 1.26+)"
        )
    return path


def node_manifest(lab: Lab, node: Node) -> dict[str, Any]:
    """The Node as the lab registers it; its data path labelled, as a CNI's objects say
    theirs, so cluster mode run against a lab knows which lab stack it measured."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": {
            "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
            ROUTING_LABEL: lab.profile, PROXY_LABEL: lab.proxy or "none",
        }},
        "spec": {"podCIDR": str(node.pod_cidr), "podCIDRs": [str(node.pod_cidr)]},
    }  # fmt: skip


def kubelet_argv(lab: Lab, node: Node, ledger: Ledger, image_map: Path) -> list[str]:
    pki_dir = ledger.state_dir / "pki"
    return [
        str(kubelet_program()),
        f"--node={node.name}", f"--node-ip={node.underlay_ip}", f"--lab={lab.name}",
        f"--kubeconfig={pki_dir / f'node-{node.name}.kubeconfig'}",
        f"--tls-cert={pki_dir / f'kubelet-{node.name}.crt'}",
        f"--tls-key={pki_dir / f'kubelet-{node.name}.key'}",
        f"--client-ca={pki_dir / 'ca.crt'}",
        f"--image-map={image_map}",
        f"--state-dir={ledger.state_dir / 'kubelet' / node.name}",
        f"--podnet-socket={ledger.state_dir / 'podnet.sock'}",
        f"--kubelet-version={KUBERNETES_VERSION}-knl",
    ]  # fmt: skip


def container_path() -> str:
    """The PATH containers get: the host's, with the virtualenv's bin first, so that the
    tools image's programs (sockperf, iperf3 and knl-rr, which `make setup` builds there)
    run as host programs, as the image map runs every image."""
    here = str(Path(sys.executable).parent)
    rest = [d for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":") if d != here]
    return ":".join([here, *rest])


class NodeKubelets(Component):
    name = "kubelets"
    roles = (ROLE, PODNET_ROLE)

    def wanted(self, lab: Lab) -> bool:
        return lab.control_plane == "kubernetes"

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return (("nsenter", "util-linux"),)

    def plan(self, lab: Lab) -> Any:
        kubelet_program()  # exit 3 before anything is built
        return None

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        started = time.monotonic()
        kubeconfig = Path(ledger.extra["api_server"]["kubeconfig"])
        ledger.state_tree("pods")  # the Pods' namespace records (controlplane/podnet.py)
        ledger.state_tree("kubelet")
        images = ledger.state_file("images.json")
        images.write_text(json.dumps(
            [{"image": glob, "program": list(argv)} for glob, argv in lab.images]
        ))  # fmt: skip
        ca = pki.Authority.reopen(ledger.state_dir / "pki")
        for node in lab.nodes:
            ca.issue(f"kubelet-{node.name}", node.name, server=True, dns=(node.name,),
                     ips=(str(node.underlay_ip),))  # fmt: skip
        objects.create_nodes(kubeconfig, [node_manifest(lab, n) for n in lab.nodes])
        self._serve_pod_networks(lab, ledger)
        for node in lab.nodes:
            log = open(ledger.state_file(f"kubelet-{node.name}.log"), "w")  # noqa: SIM115
            env = {**os.environ, "KNL_KUBERNETES_SERVICE_HOST": str(lab.service_cidr[1]),
                   "PATH": container_path()}  # fmt: skip
            procs.spawn(ledger, node.netns, kubelet_argv(lab, node, ledger, images), role=ROLE,
                        stdout=log, stderr=log, env=env)  # fmt: skip
            log.close()
        self._wait_ready(lab, ledger, kubeconfig)
        return {"kubelets_ready_seconds": round(time.monotonic() - started, 3)}

    @staticmethod
    def _serve_pod_networks(lab: Lab, ledger: Ledger) -> None:
        """One pod-network server for every node's kubelet (controlplane/podnet.py)."""
        assert lab.control_netns is not None
        sock = ledger.state_file("podnet.sock")
        log = open(ledger.state_file("podnet.log"), "w")  # noqa: SIM115
        procs.spawn(ledger, lab.control_netns,
                    [sys.executable, "-m", "kubenetlab.controlplane.podnet", "serve",
                     "--lab", lab.name, "--socket", str(sock)],
                    role=PODNET_ROLE, stdout=log, stderr=log)  # fmt: skip
        log.close()
        deadline = time.monotonic() + 15
        while not sock.exists():
            if time.monotonic() > deadline:
                raise KnlError(f"the pod-network server did not start: {last_log_line(ledger, 'podnet')}")
            time.sleep(0.02)

    @staticmethod
    def _wait_ready(lab: Lab, ledger: Ledger, kubeconfig: Path) -> None:
        deadline = time.monotonic() + READY_SECONDS
        names = [n.name for n in lab.nodes]
        while True:
            ready = objects.ready_nodes(kubeconfig)
            if all(n in ready for n in names):
                return
            dead = [p for p in ledger.processes if p.role == ROLE and not procs.is_running(p)]
            late = [n for n in names if n not in ready]
            if dead or time.monotonic() > deadline:
                node = late[0]
                why = "exited" if dead else f"was not Ready in {READY_SECONDS:.0f} s"
                line = last_log_line(ledger, f"kubelet-{node}")
                raise KnlError(f"the kubelet of node {node} {why}: {line}")
            time.sleep(0.2)

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        kubeconfig = Path((ledger.extra.get("api_server") or {}).get("kubeconfig", ""))
        down = [p.role for p in ledger.processes
                if p.role in ("etcd", "kube-apiserver") and not procs.is_running(p)]  # fmt: skip
        try:
            if down:  # no need to wait for an API that cannot answer
                raise KnlError(f"{' and '.join(down)} down: the nodes' state is unknown")
            ready = objects.ready_nodes(kubeconfig)
        except (KnlError, OSError) as exc:
            ready, error = set(), str(exc)
        else:
            error = ""
        alive = {p.argv[1].split("=", 1)[1]: procs.is_running(p)
                 for p in ledger.processes if p.role == ROLE}  # fmt: skip
        return {"kubelets": [
            {"node": n.name, "kubelet": "running" if alive.get(n.name) else "down",
             "ready": n.name in ready,
             "last_log_line": "" if alive.get(n.name) else last_log_line(ledger, f"kubelet-{n.name}"),
             **({"api_error": error} if error else {})}
            for n in lab.nodes
        ]}  # fmt: skip
