"""`control_plane: kubernetes`: the upstream control plane in the lab's control namespace
(controlplane/kubernetes.py has its command lines), a per-lab PKI, the host's way in (a
forwarder on 127.0.0.1) and the spec's Services created through the API.

Every file, directory and process is in the ledger before it exists; `lab down` ends the
processes by PID and removes the state directory with the certificates and etcd's data.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import time
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.components.etcd import data_dir, wait_healthy
from kubenetlab.controlplane import objects, pki
from kubenetlab.controlplane.kubernetes import (
    API_PORT,
    ETCD_CLIENT,
    Paths,
    apiserver_argv,
    apiserver_names,
    controller_manager_argv,
    etcd_argv,
    scheduler_argv,
)
from kubenetlab.errors import KnlError
from kubenetlab.kernel import netns, procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab
from kubenetlab.store import Etcd

ROLES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "api-forwarder")
READY_SECONDS = 60.0
STATUS_TIMEOUT = 5.0


def admin_kubeconfig(ledger: Ledger) -> Path:
    return ledger.state_dir / "pki" / "admin.kubeconfig"


def _spawn_logged(ledger: Ledger, ns: str, argv: list[str], role: str, **kw: Any) -> None:
    log = open(ledger.state_file(f"{role}.log"), "w")  # noqa: SIM115 (the child keeps it)
    procs.spawn(ledger, ns, argv, role=role, stdout=log, stderr=log, **kw)
    log.close()


def last_log_line(ledger: Ledger, role: str) -> str:
    path = ledger.state_dir / f"{role}.log"
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


class ApiProbe:
    """GET on the API server with the admin's client certificate, from inside the lab."""

    def __init__(self, ns: str, pki_dir: Path, host: str = "127.0.0.1", timeout: float = 2.0):
        self.ns, self.host, self.timeout = ns, host, timeout
        self.context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        self.context.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))

    def get(self, path: str) -> tuple[int, str]:
        with netns.inside(self.ns):
            conn = HTTPSConnection(self.host, API_PORT, timeout=self.timeout, context=self.context)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.read().decode(errors="replace")
            finally:
                conn.close()


def wait_ready(probe: ApiProbe, ledger: Ledger, seconds: float = READY_SECONDS) -> float:
    """Until /readyz says ok; the API server's last log line if it died or never got there."""
    started = time.monotonic()
    while True:
        try:
            if probe.get("/readyz")[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        dead = [p for p in ledger.processes if p.role in ROLES and not procs.is_running(p)]
        if dead or time.monotonic() - started > seconds:
            who = dead[0].role if dead else "kube-apiserver"
            why = "exited" if dead else f"was not ready in {seconds:.0f} s"
            raise KnlError(f"{who} {why}: {last_log_line(ledger, who)}")
        time.sleep(0.1)


def _forward(ledger: Ledger, ns: str) -> int:
    """The host's way in: a listener on 127.0.0.1 (port from the kernel), served from
    inside the control namespace by a recorded process."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = int(listener.getsockname()[1])
        argv = [sys.executable, "-m", "kubenetlab.controlplane.forwarder",
                "--fd", str(listener.fileno()), "--to", f"127.0.0.1:{API_PORT}"]  # fmt: skip
        _spawn_logged(ledger, ns, argv, "api-forwarder", pass_fds=(listener.fileno(),))
    finally:
        listener.close()  # the forwarder holds it now
    return port


class KubernetesControlPlane(Component):
    name = "kubernetes"
    roles = ROLES

    def wanted(self, lab: Lab) -> bool:
        return lab.control_plane == "kubernetes"

    def plan(self, lab: Lab) -> Any:
        from kubenetlab.controlplane import upstream

        # exit 3 before anything is built when `make setup` has not built them
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            upstream.program(name)
        return None

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        ns, advertise = lab.control_netns, lab.api_server_ip
        assert ns is not None and advertise is not None
        started = time.monotonic()
        paths = Paths(ledger.state_tree("pki"), data_dir(lab, ledger))
        self._issue(lab, paths.pki, advertise)
        _spawn_logged(ledger, ns, etcd_argv(lab, paths), "etcd")
        with netns.inside(ns):
            wait_healthy(Etcd(ETCD_CLIENT))
        _spawn_logged(ledger, ns, apiserver_argv(lab, paths, advertise), "kube-apiserver")
        ready = wait_ready(ApiProbe(ns, paths.pki), ledger)
        _spawn_logged(ledger, ns, controller_manager_argv(lab, paths), "kube-controller-manager")
        _spawn_logged(ledger, ns, scheduler_argv(paths), "kube-scheduler")
        port = _forward(ledger, ns)
        kubeconfig = pki.Authority.reopen(paths.pki).kubeconfig(
            pki.ADMIN, f"https://127.0.0.1:{port}", f"knl-{lab.name}"
        )
        created = objects.create_lab_objects(lab, kubeconfig)
        return {
            "api_server": {"port": port, "kubeconfig": str(kubeconfig),
                           "address": f"{advertise}:{API_PORT}",
                           "ready_seconds": round(ready, 3), "objects": created},
            "control_plane_seconds": round(time.monotonic() - started, 3),
        }  # fmt: skip

    @staticmethod
    def _issue(lab: Lab, directory: Path, advertise: Any) -> None:
        ca = pki.Authority.create(directory, lab.name)
        dns, ips = apiserver_names(lab, advertise)
        ca.issue("apiserver", "kube-apiserver", server=True, dns=dns, ips=ips)
        ca.client(pki.ADMIN)
        ca.client(pki.APISERVER_KUBELET_CLIENT)
        ca.service_account_keys()
        local = f"https://127.0.0.1:{API_PORT}"  # the components beside the API server
        for who in (pki.CONTROLLER_MANAGER, pki.SCHEDULER):
            ca.kubeconfig(who, local, f"knl-{lab.name}")
        remote = f"https://{advertise}:{API_PORT}"  # what runs on the nodes
        for who in (pki.KUBE_PROXY, *(pki.node_identity(n.name) for n in lab.nodes)):
            ca.kubeconfig(who, remote, f"knl-{lab.name}")

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        assert lab.control_netns is not None
        info = dict(ledger.extra.get("api_server") or {})
        processes = {p.role: procs.is_running(p) for p in ledger.processes if p.role in ROLES}
        down = [role for role, alive in processes.items() if not alive]
        probe = ApiProbe(lab.control_netns, ledger.state_dir / "pki", timeout=STATUS_TIMEOUT)
        try:
            status = probe.get("/readyz")[0]
            api = "ok" if status == 200 else f"not ready (HTTP {status})"
            version = json.loads(probe.get("/version")[1]).get("gitVersion")
        except TimeoutError:  # up, but waiting on something (etcd) for its answer
            api, version = f"not ready: /readyz did not answer in {STATUS_TIMEOUT:.0f} s", None
        except (OSError, ValueError) as exc:
            api, version = f"unreachable: {exc}", None
        return {"kubernetes": {
            "api": api, "version": version, "kubeconfig": info.get("kubeconfig"),
            "host_port": info.get("port"), "address": info.get("address"),
            "processes": processes,
            "down": {role: last_log_line(ledger, role) for role in down},
        }}  # fmt: skip
