"""A lab's Services, live: proxy rules on every node, backend servers in endpoint pods,
health-check servers for Local Services. Orchestration only: rules come from the
proxy renderers, processes and files go through the kernel layer and the ledger."""

from __future__ import annotations

import dataclasses
import json
import sys
import time

from kubenetlab.errors import KnlError, UsageError
from kubenetlab.kernel import procs, sockets
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab, Node
from kubenetlab.proxy import NodeContext, ServiceProxy, proxy
from kubenetlab.services import Endpoint, Service


def node_context(lab: Lab, node: Node) -> NodeContext:
    return NodeContext(
        node.name, node.netns, (str(node.underlay_ip),), str(lab.pod_cidr), str(lab.service_cidr)
    )


def _wait_listening(ns: str, ports: list[int], what: str) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while not sockets.listening(ns, port):
            if time.monotonic() > deadline:
                raise KnlError(f"{what} did not open port {port} in 10 s")
            time.sleep(0.02)


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start(lab: Lab, ledger: Ledger) -> dict[str, float]:
    """Program every node, start backends and health checks; seconds per node to program."""
    assert lab.proxy is not None
    impl = proxy(lab.proxy)
    seconds = {node.name: impl.program(lab.services, node_context(lab, node)) for node in lab.nodes}
    _start_backends(lab, ledger, lab.services)
    write_health(lab, ledger, start_servers=True)
    ledger.save()
    return seconds


def _backend_ports(entry: dict[str, object]) -> set[int]:
    return {int(a.split("=", 1)[1]) for a in entry["argv"] if str(a).startswith("--port=")}  # type: ignore[union-attr]


def _start_backends(lab: Lab, ledger: Ledger, services: tuple[Service, ...]) -> None:
    ports: dict[str, list[int]] = {}
    for svc in services:
        for e in svc.endpoints:
            if e.pod:
                ports.setdefault(e.pod, []).extend(p.target_port for p in svc.ports)
    start_backends_for(lab, ledger, ports)


def start_backends_for(lab: Lab, ledger: Ledger, ports_by_pod: dict[str, list[int]]) -> None:
    """One backend per pod serving every port it must; a pod that gains a port gets its
    backend restarted with the new set (ended by PID, as recorded)."""
    running = {p["netns"]: p for p in ledger.processes if p.get("role") == "backend"}
    for pod in lab.pods:
        ports = sorted(set(ports_by_pod.get(pod.name, [])))
        old = running.get(pod.netns)
        if not ports or (old is not None and set(ports) <= _backend_ports(old)):
            continue
        if old is not None:
            ports = sorted(set(ports) | _backend_ports(old))
            procs.end(int(old["pid"]), old.get("start_time"))
            ledger.processes.remove(old)
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
                "kubenetlab.proxy.healthcheck",
                "--address",
                str(node.underlay_ip),
                "--state",
                str(path),
            )
            procs.spawn(ledger, node.netns, argv, role="healthcheck")
            _wait_listening(node.netns, [int(p) for p in state], f"health checks on {node.name}")


def set_endpoints(
    lab: Lab, ledger: Ledger, key: str, pod_names: list[str]
) -> tuple[Lab, dict[str, float]]:
    """Point Service `key` at `pod_names`; update every node the way its proxy does."""
    try:
        old_svc = lab.service(key)
    except KeyError:
        raise UsageError(f"lab {lab.name!r} has no service {key!r}") from None
    pods = {p.name: p for p in lab.pods}
    missing = [n for n in pod_names if n not in pods]
    if missing:
        raise UsageError(f"lab {lab.name!r} has no pod {missing[0]!r}")
    endpoints = tuple(Endpoint(str(pods[n].ip), pods[n].node, pod=n) for n in pod_names)
    new_svc = dataclasses.replace(old_svc, endpoints=endpoints)
    services = tuple(new_svc if s.key == old_svc.key else s for s in lab.services)
    new_lab = dataclasses.replace(lab, services=services)
    impl: ServiceProxy = proxy(lab.proxy or "iptables")
    seconds = {n.name: impl.update(lab.services, services, node_context(lab, n)) for n in lab.nodes}
    ledger.lab = new_lab.to_dict()
    ledger.save()
    _start_backends(new_lab, ledger, services)
    write_health(new_lab, ledger, start_servers=False)
    return new_lab, seconds
