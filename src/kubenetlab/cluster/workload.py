"""What cluster mode creates, and nothing else: one namespace labelled as kubenetlab's, a
server and a client pod pinned to two nodes (`nodeSelector: kubernetes.io/hostname`),
the same pair on the host network (the underlay row), and a ClusterIP and a NodePort
Service in front of the server. Pure: `--dry-run -o yaml` prints exactly this."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from kubenetlab.kube.labels import HOSTNAME_LABEL

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_LABEL = "kubenetlab.io/run"
DEFAULT_IMAGE = "ghcr.io/kubenetlab/tools:0.1"  # Containerfile: sockperf, iperf3, knl-rr
PORTS = {"sockperf": 11111, "knl-rr": 7003, "iperf3": 5201}
# Every server the tests need, in one container; `wait` keeps the pod running on them.
SERVERS = (
    f"$PIN sockperf server -i 0.0.0.0 -p {PORTS['sockperf']} --tcp --uc-reuseaddr & "
    f"$PIN knl-rr server {PORTS['knl-rr']} & "
    f"$PIN iperf3 -s -4 -p {PORTS['iperf3']} & "
    "wait"
)
CLIENT = "trap 'exit 0' TERM; sleep infinity & wait"
# The CPUs the container may run on: its cgroup v2 cpuset, else its affinity (a cgroup v1
# node, or a runtime that pins without cpusets) — the same list either way.
ALLOWED_CPUS = (
    "cat /sys/fs/cgroup/cpuset.cpus.effective 2>/dev/null || "
    "sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status"
)
# Pinning the servers: to the lowest CPU the container may use, when `taskset` is there and
# the kernel lets it; `PIN` stays empty otherwise. The run makes the same choice for the
# clients through pods/exec in the same containers, and so knows what this one chose.
PIN_SERVERS = (
    'C=$( ({allowed}) | cut -d, -f1 | cut -d- -f1); PIN=""; '
    'if [ -n "$C" ] && taskset -c "$C" true 2>/dev/null; then PIN="taskset -c $C"; fi; '
)


def new_run_id() -> str:
    return secrets.token_hex(3)


@dataclass(frozen=True)
class Plan:
    namespace: str
    image: str
    client_node: str
    server_node: str
    run_id: str
    pin: bool = True  # each tool on one CPU of its pod (compare's --cpus, but none)

    @classmethod
    def new(cls, prefix: str, image: str, client_node: str, server_node: str,
            run_id: str | None = None, pin: bool = True) -> Plan:  # fmt: skip
        run_id = run_id or new_run_id()
        return cls(f"{prefix}-{run_id}", image, client_node, server_node, run_id, pin)

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
        "command": ["sh", "-c", server_command(plan, name) if role == "server" else CLIENT],
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


# What a run asks each pod, in one exec: the CPUs it may use, and the pinning its servers'
# command chose (the same shell, so the same choice) — "" when taskset cannot pin.
PIN_PROBE = PIN_SERVERS.format(allowed=ALLOWED_CPUS) + (
    f'echo "cpus $( ({ALLOWED_CPUS}) )"; echo "pin $PIN"'
)


def route_mtu(ip: str) -> list[str]:
    """The MTU of the interface the pod reaches `ip` through (`ip link`, not /sys: sysfs
    may be the host's)."""
    dev = f"ip -o route get {ip} | awk '{{for (i = 1; i < NF; i++) if ($i == \"dev\") print $(i + 1)}}'"
    return ["sh", "-c", f'ip -o link show dev "$({dev})"']


def server_command(plan: Plan, name: str) -> str:
    if not plan.pin:
        return SERVERS.replace("$PIN ", "")
    return PIN_SERVERS.format(allowed=ALLOWED_CPUS) + SERVERS


def service(plan: Plan, type_: str) -> dict[str, Any]:
    ports = [{"name": name, "port": port, "targetPort": port} for name, port in PORTS.items()]
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
