"""Backends and health checks, live: one backend server per endpoint pod (answers `?` with
`<pod> <client-ip>:<port>`, HTTP, echo), and kube-proxy's health-check server on nodes
with `externalTrafficPolicy: Local` Services (200/503 and its JSON)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.controlplane.kubeproxy import runs_upstream
from kubenetlab.errors import KnlError
from kubenetlab.kernel import procs, sockets
from kubenetlab.kernel.ledger import Ledger, ProcessRecord
from kubenetlab.model import Lab, Node


class Backends(Component):
    name = "backends"
    roles = ("backend", "healthcheck")

    def wanted(self, lab: Lab) -> bool:
        return bool(lab.services)

    def plan(self, lab: Lab) -> dict[str, list[int]]:
        """Pod → the target ports its backend serves."""
        ports: dict[str, list[int]] = {}
        for svc in lab.services:
            for e in svc.endpoints:
                if e.pod:
                    ports.setdefault(e.pod, []).extend(p.target_port for p in svc.ports)
        return ports

    def start(self, lab: Lab, ledger: Ledger, plan: dict[str, list[int]]) -> dict[str, Any]:
        start_backends_for(lab, ledger, plan)
        write_health(lab, ledger, start_servers=True)
        ledger.save()
        return {}

    def update(self, lab: Lab, ledger: Ledger) -> None:
        """After an endpoint change: backends for new endpoint pods, health state rewritten."""
        start_backends_for(lab, ledger, self.plan(lab))
        write_health(lab, ledger, start_servers=False)


def _wait_listening(ns: str, ports: list[int], what: str) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while not sockets.listening(ns, port):
            if time.monotonic() > deadline:
                raise KnlError(f"{what} did not open port {port} in 10 s")
            time.sleep(0.02)


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _backend_ports(entry: ProcessRecord) -> set[int]:
    return {int(a.split("=", 1)[1]) for a in entry.argv if a.startswith("--port=")}


def start_backends_for(lab: Lab, ledger: Ledger, ports_by_pod: dict[str, list[int]]) -> None:
    """One backend per pod serving every port it must; a pod that gains a port gets its
    backend restarted with the new set (ended by PID, as recorded)."""
    running = {p.netns: p for p in ledger.processes if p.role == "backend"}
    for pod in lab.pods:
        ports = sorted(set(ports_by_pod.get(pod.name, [])))
        old = running.get(pod.netns)
        if not ports or (old is not None and set(ports) <= _backend_ports(old)):
            continue
        if old is not None:
            ports = sorted(set(ports) | _backend_ports(old))
            procs.end_recorded(old)
            ledger.forget_processes(lambda p, old=old: p is old)
        argv = _python(
            "kubenetlab.proxy.backend", "--name", pod.name, *(f"--port={p}" for p in ports)
        )
        procs.spawn(ledger, pod.netns, argv, role="backend")
        _wait_listening(pod.netns, ports, f"backend in {pod.name}")


def health_state(lab: Lab, node: Node) -> dict[str, dict[str, object]]:
    return {
        str(svc.health_check_node_port): {
            "namespace": svc.namespace,
            "name": svc.name,
            "localEndpoints": len(svc.local_endpoints(node.name)),
        }
        for svc in lab.services
        if svc.local and svc.health_check_node_port
    }


def write_health(lab: Lab, ledger: Ledger, start_servers: bool) -> None:
    if runs_upstream(lab):  # the upstream kube-proxy serves its own health checks
        return
    for node in lab.nodes:
        state = health_state(lab, node)
        if not state:
            continue
        path = ledger.state_file(f"health-{node.name}.json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
        if start_servers:
            argv = _python(
                "kubenetlab.proxy.healthcheck", "--address", str(node.underlay_ip),
                "--state", str(path),
            )  # fmt: skip
            procs.spawn(ledger, node.netns, argv, role="healthcheck")
            _wait_listening(node.netns, [int(p) for p in state], f"health checks on {node.name}")
