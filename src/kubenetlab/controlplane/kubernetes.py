"""The upstream control plane of a lab: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler in the lab's control namespace, as kubeadm configures them (client
certificates, RBAC and the Node authorizer, NodeRestriction, service-account tokens).

Pure here: the addresses, the files and the command lines. Starting them is
components/kubernetes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from kubenetlab.controlplane import upstream
from kubenetlab.model import Lab

API_PORT = 6443
ETCD_CLIENT = "http://127.0.0.1:2379"
ETCD_PEER = "http://127.0.0.1:2380"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_DOMAIN = "cluster.local"


def kubernetes_service_ip(lab: Lab) -> IPv4Address:
    """The `kubernetes` Service's ClusterIP: the first address of the service CIDR."""
    return lab.service_cidr.network_address + 1


@dataclass(frozen=True)
class Paths:
    """Where a lab's control plane keeps its files (all under the ledger's state dir)."""

    pki: Path
    etcd_data: Path

    def file(self, name: str) -> str:
        return str(self.pki / name)


def etcd_argv(lab: Lab, paths: Paths) -> list[str]:
    return [
        str(upstream.program("etcd")), "--name", f"knl-{lab.name}",
        "--data-dir", str(paths.etcd_data),
        "--listen-client-urls", ETCD_CLIENT, "--advertise-client-urls", ETCD_CLIENT,
        "--listen-peer-urls", ETCD_PEER, "--initial-advertise-peer-urls", ETCD_PEER,
        "--initial-cluster", f"knl-{lab.name}={ETCD_PEER}", "--initial-cluster-state", "new",
        "--listen-metrics-urls", "http://127.0.0.1:2381",
        "--log-level", "warn",
    ]  # fmt: skip


def apiserver_argv(lab: Lab, paths: Paths, advertise: IPv4Address) -> list[str]:
    p = paths.file
    low, high = lab.node_port_range
    return [
        str(upstream.program("kube-apiserver")),
        f"--advertise-address={advertise}",
        "--bind-address=0.0.0.0",
        f"--secure-port={API_PORT}",
        f"--etcd-servers={ETCD_CLIENT}",
        f"--service-cluster-ip-range={lab.service_cidr}",
        f"--service-node-port-range={low}-{high}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--anonymous-auth=false",
        "--allow-privileged=true",
        f"--client-ca-file={p('ca.crt')}",
        f"--tls-cert-file={p('apiserver.crt')}",
        f"--tls-private-key-file={p('apiserver.key')}",
        f"--kubelet-client-certificate={p('apiserver-kubelet-client.crt')}",
        f"--kubelet-client-key={p('apiserver-kubelet-client.key')}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={p('sa.pub')}",
        f"--service-account-signing-key-file={p('sa.key')}",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(lab: Lab, paths: Paths) -> list[str]:
    p = paths.file
    kubeconfig = p("controller-manager.kubeconfig")
    return [
        str(upstream.program("kube-controller-manager")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p('sa.key')}",
        f"--root-ca-file={p('ca.crt')}",
        f"--cluster-signing-cert-file={p('ca.crt')}",
        f"--cluster-signing-key-file={p('ca.key')}",
        f"--service-cluster-ip-range={lab.service_cidr}",
        f"--cluster-cidr={lab.pod_cidr}",
        # The lab decides each node's pod CIDR (its plan wires the routes); the Node objects
        # carry it, so the controller must not hand out others.
        "--allocate-node-cidrs=false",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
        "--v=1",
    ]


def scheduler_argv(paths: Paths) -> list[str]:
    kubeconfig = paths.file("scheduler.kubeconfig")
    return [
        str(upstream.program("kube-scheduler")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        "--v=1",
    ]


def apiserver_names(lab: Lab, advertise: IPv4Address) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The serving certificate's DNS names and IPs: the in-cluster names, the `kubernetes`
    Service's ClusterIP, the fabric address nodes use, and loopback (the host's forwarder
    and the control namespace's own components)."""
    dns = (
        "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}", "localhost",
    )  # fmt: skip
    return dns, (str(kubernetes_service_ip(lab)), str(advertise), "127.0.0.1")
