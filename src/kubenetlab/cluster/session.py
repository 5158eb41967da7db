"""One cluster-mode run's objects on a live cluster: permissions asked first, the
namespace and its pods created, waited for, used through pods/exec (as the anchors —
cilium-cli, k8s-netperf — run their tools), and deleted on every way out: success, error,
SIGINT, SIGTERM (teardown shielded from a second signal, its wait bounded)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubenetlab import interrupt
from kubenetlab.cluster.workload import MANAGED_BY, Plan, manifests
from kubenetlab.errors import EnvironmentProblem, KnlError
from kubenetlab.kube.cluster import (
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    Access,
    Cluster,
    internal_ipv4s,
)

DELETE_WAIT = 60.0  # seconds a run waits for its namespace to be gone


@dataclass(frozen=True)
class NodeInfo:
    name: str
    internal_ip: str
    kernel: str
    cpus: str
    instance_type: str | None


def schedulable_nodes(cluster: Cluster) -> list[NodeInfo]:
    """Ready Nodes that take pods (not cordoned, no NoSchedule/NoExecute taint)."""
    out = []
    for node in cluster.list(NODES):
        spec, status = node.get("spec") or {}, node.get("status") or {}
        taints = [t for t in spec.get("taints") or [] if t.get("effect") != "PreferNoSchedule"]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])  # fmt: skip
        if spec.get("unschedulable") or taints or not ready:
            continue
        ips = internal_ipv4s(node)
        info = status.get("nodeInfo") or {}
        labels = (node.get("metadata") or {}).get("labels") or {}
        out.append(NodeInfo(node["metadata"]["name"], ips[0] if ips else "",
                            info.get("kernelVersion", ""), str((status.get("capacity") or {}).get("cpu", "")),
                            labels.get("node.kubernetes.io/instance-type")))  # fmt: skip
    return out


def needed(namespace: str) -> list[Access]:
    """Every verb a run uses, asked before anything is created."""
    return [
        Access(NODES),
        Access(NAMESPACES, "create"),
        Access(NAMESPACES, "delete"),
        Access(PODS, "create", namespace),
        Access(PODS, "get", namespace),
        Access(PODS, "create", namespace, subresource="exec"),
        Access(SERVICES, "create", namespace),
        Access(EVENTS, "list", namespace),
    ]


class Session:
    """`with Session(cluster, plan):` the plan's objects exist inside the block, and are
    deleted when it is left, however it is left."""

    def __init__(self, cluster: Cluster, plan: Plan, ready_timeout: float = 120) -> None:
        self.cluster, self.plan, self.ready_timeout = cluster, plan, ready_timeout
        self.created = False
        self.deleted = False  # the namespace gone when the block was left
        self.pins: dict[str, str] = {}  # pod → how its tools are pinned ("taskset -c N")

    def __enter__(self) -> Session:
        try:
            self._create()
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.created:
            with interrupt.shielded():
                self.deleted = delete_namespace(self.cluster, self.plan.namespace, DELETE_WAIT)

    def _create(self) -> None:
        for obj in manifests(self.plan):
            kind, ns = obj["kind"], obj["metadata"].get("namespace")
            resource = {"Namespace": NAMESPACES, "Pod": PODS, "Service": SERVICES}[kind]
            status, body = self.cluster.request("POST", resource.path(ns), body=obj)
            if status not in (200, 201):
                raise KnlError(
                    f"the API server {self.cluster.server} refused {kind} "
                    f"{obj['metadata']['name']}: {status} {body.get('message', '')}"
                )
            self.created = True  # the namespace exists: it is deleted on the way out

    def pod(self, name: str) -> dict[str, Any]:
        status, body = self.cluster.request("GET", PODS.path(self.plan.namespace, name))
        if status != 200:
            raise KnlError(f"pod {self.plan.namespace}/{name}: {status} {body.get('message', '')}")
        return body

    def _wait_ready(self) -> None:
        """Servers Ready (their probe answers), clients Running; else exit 3 with the pod's
        last event — an image the nodes cannot pull names itself there."""
        deadline = time.monotonic() + self.ready_timeout
        waiting = list(self.plan.pods)
        while waiting:
            for name in list(waiting):
                status = self.pod(name).get("status") or {}
                if status.get("phase") in ("Failed", "Succeeded"):
                    raise EnvironmentProblem(f"pod {name} ended: {self._why(name, status)}")
                ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])  # fmt: skip
                if ready:
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                name = waiting[0]
                why = self._why(name, self.pod(name).get("status") or {})
                raise EnvironmentProblem(
                    f"pod {self.plan.namespace}/{name} (image {self.plan.image}) was not ready "
                    f"within {self.ready_timeout:g} s: {why}; give an image the nodes can pull "
                    "with --image"
                )
            if waiting:
                time.sleep(0.5)

    def _why(self, name: str, status: dict[str, Any]) -> str:
        states = [s.get("state") or {} for s in status.get("containerStatuses") or []]
        for state in states:
            for key in ("waiting", "terminated"):
                if key in state and (state[key].get("reason") or state[key].get("message")):
                    return f"{state[key].get('reason', '')} {state[key].get('message', '')}".strip()
        query = [("fieldSelector", f"involvedObject.name={name}")]
        _, body = self.cluster.request("GET", EVENTS.path(self.plan.namespace), query)
        events = body.get("items") or []
        if events:
            last = events[-1]
            return f"{last.get('reason', '')}: {last.get('message', '')}"
        return f"phase {status.get('phase', 'unknown')}, no event"

    def exec(self, pod: str, argv: list[str], timeout: float) -> tuple[int, str, str]:
        """argv in the pod's container, through the API server (pods/exec): its exit code,
        standard output and error."""
        from kubernetes import client
        from kubernetes.stream import stream

        core = client.CoreV1Api(self.cluster.api)
        ws = stream(core.connect_get_namespaced_pod_exec, pod, self.plan.namespace,
                    command=argv, container="tools", stderr=True, stdin=False, stdout=True,
                    tty=False, _preload_content=False)  # fmt: skip
        out, err = [], []
        deadline = time.monotonic() + timeout
        try:
            while ws.is_open():
                ws.update(timeout=1)
                if ws.peek_stdout():
                    out.append(ws.read_stdout())
                if ws.peek_stderr():
                    err.append(ws.read_stderr())
                if time.monotonic() > deadline:
                    raise KnlError(f"{' '.join(argv[:2])} in pod {pod} ran over {timeout:g} s")
            code = ws.returncode
        finally:
            ws.close()
        return (code if code is not None else -1), "".join(out), "".join(err)


def delete_namespace(cluster: Cluster, namespace: str, wait: float) -> bool:
    """Delete it and wait (at most `wait` s) until it is gone; whether it is."""
    status, _ = cluster.request("DELETE", NAMESPACES.path(name=namespace))
    if status == 404:
        return True
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status, _ = cluster.request("GET", NAMESPACES.path(name=namespace))
        if status == 404:
            return True
        time.sleep(0.5)
    return False


def leftovers(cluster: Cluster) -> list[str]:
    """Namespaces an earlier run left (found by kubenetlab's label)."""
    query = [("labelSelector", f"{MANAGED_BY}=kubenetlab")]
    status, body = cluster.request("GET", NAMESPACES.path(), query)
    if status != 200:
        raise EnvironmentProblem(f"list namespaces: {status} {body.get('message', '')}")
    return [n["metadata"]["name"] for n in body.get("items") or []]
