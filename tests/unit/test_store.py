"""The control-plane store's Kubernetes JSON: what the lab writes to etcd reads back to
the same Services (through the same reader `proxy render` uses), and the spec keys."""

from __future__ import annotations

import pytest

from kubenetlab import store
from kubenetlab.errors import UsageError
from kubenetlab.kube.objects import parse_all
from kubenetlab.services import read_kubernetes
from kubenetlab.spec import build_lab

SERVICES = [
    {"name": "web", "replicas": 3},
    {"name": "pay", "namespace": "fintech", "type": "NodePort", "external_traffic_policy": "Local",
     "pods": ["node2-pod1"], "protocol": "UDP"},
    {"name": "lb", "type": "LoadBalancer", "load_balancer_ips": ["198.18.100.1"],
     "load_balancer_source_ranges": ["198.18.0.0/24"], "external_ips": ["198.18.100.2"],
     "session_affinity": "ClientIP", "session_affinity_timeout": 60, "pods": ["node1-pod2"]},
    {"name": "empty", "replicas": 0},
]  # fmt: skip


def test_services_round_trip_through_kubernetes_json() -> None:
    lab = build_lab({"profile": "native", "services": SERVICES, "control_plane": "etcd"})
    docs = [doc for svc in lab.services for doc in store.to_kubernetes(svc)]
    assert {d["kind"] for d in docs} == {"Service", "EndpointSlice"}
    back, unsupported = read_kubernetes(parse_all(docs))
    assert back == lab.services and unsupported == []
    assert store.service_key(lab.services[1]) == "/registry/services/specs/fintech/pay"
    assert store.slice_key(lab.services[0]) == "/registry/endpointslices/default/web-knl"
    assert store.prefix_end("/registry/") == "/registry0"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"control_plane": "consul"}, "must be kubernetes or etcd"),
        ({"etcd_data_dir": "/tmp"}, "needs control_plane: kubernetes or etcd"),
        ({"control_plane": "etcd", "etcd_data_dir": "relative", "services": [{"name": "w"}]},
         "existing absolute directory"),
    ],
)  # fmt: skip
def test_control_plane_spec_errors(values: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_lab({"profile": "native", **values})


def test_an_etcd_lab_may_start_without_services() -> None:
    # Services can be written later (lab services / the agents watch); refusing was stricter
    # than any API server, which starts empty.
    lab = build_lab({"profile": "native", "control_plane": "etcd"})
    assert lab.control_plane == "etcd" and not lab.services
