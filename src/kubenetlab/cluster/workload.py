"""What cluster mode creates, and nothing else: one namespace labelled as kubenetlab's, a
server and a client pod pinned to two nodes (`nodeSelector: kubernetes.io/hostname`),
the same pair on the host network (the underlay row), and a ClusterIP and a NodePort
Service in front of the server. Pure: `--dry-run -o yaml` prints exactly this."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from kubenetlab.kube.objects import HOSTNAME_LABEL

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_LABEL = "kubenetlab.io/run"
DEFAULT_IMAGE = "ghcr.io/kubenetlab/tools:0.1"  # Containerfile: sockperf, iperf3, knl-rr
PORTS = {"sockperf": 11111, "knl-rr": 7003, "iperf3": 5201}
# Every server the tests need, in one container; `wait` keeps the pod running on them.
SERVERS = (
    f"sockperf server -i 0.0.0.0 -p {PORTS['sockperf']} --tcp --uc-reuseaddr & "
    f"knl-rr server {PORTS['knl-rr']} & "
    f"iperf3 -s -4 -p {PORTS['iperf3']} & "
    "wait"
)
CLIENT = "trap 'exit 0' TERM; sleep infinity & wait"


def new_run_id() -> str:
    return secrets.token_hex(3)


@dataclass(frozen=True)
class Plan:
    namespace: str
    image: str
    client_node: str
    server_node: str
    run_id: str

    @classmethod
    def new(cls, prefix: str, image: str, client_node: str, server_node: str,
            run_id: str | None = None) -> Plan:  # fmt: skip
        run_id = run_id or new_run_id()
        return cls(f"{prefix}-{run_id}", image, client_node, server_node, run_id)

    @property
    def labels(self) -> dict[str, str]:
        return {MANAGED_BY: "kubenetlab", RUN_LABEL: self.run_id}

    # pod name → (node, host network, role)
    @property
    def pods(self) -> dict[str, tuple[str, bool, str]]:
        return {
            "server": (self.server_node, False, "server"),
            "client": (self.client_node, False, "client"),
            "host-server": (self.server_node, True, "server"),
            "host-client": (self.client_node, True, "client"),
        }


def pod(plan: Plan, name: str) -> dict[str, Any]:
    node, host_network, role = plan.pods[name]
    container: dict[str, Any] = {
        "name": "tools",
        "image": plan.image,
        "command": ["sh", "-c", SERVERS if role == "server" else CLIENT],
    }
    if role == "server":
        container["ports"] = [{"name": k, "containerPort": v} for k, v in PORTS.items()]
        container["readinessProbe"] = {
            "tcpSocket": {"port": PORTS["sockperf"]},
            "periodSeconds": 1,
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": plan.namespace,
                     "labels": {**plan.labels, "kubenetlab.io/pod": name}},
        "spec": {
            "nodeSelector": {HOSTNAME_LABEL: node},
            "hostNetwork": host_network,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }  # fmt: skip


def service(plan: Plan, type_: str) -> dict[str, Any]:
    ports = [{"name": "knl-rr", "port": PORTS["knl-rr"], "targetPort": PORTS["knl-rr"]},
             {"name": "sockperf", "port": PORTS["sockperf"], "targetPort": PORTS["sockperf"]}]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"server-{type_.lower()}", "namespace": plan.namespace,
                     "labels": plan.labels},
        "spec": {"type": type_, "selector": {"kubenetlab.io/pod": "server"}, "ports": ports},
    }  # fmt: skip


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Everything a run creates, in the order it is created."""
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": plan.namespace, "labels": plan.labels}}  # fmt: skip
    return [
        namespace,
        *(pod(plan, name) for name in plan.pods),
        service(plan, "ClusterIP"),
        service(plan, "NodePort"),
    ]
