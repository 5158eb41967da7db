"""The upstream control plane's pure parts: the PKI, the pinned versions and the command
lines (the lab tests run the real binaries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubenetlab.controlplane import pki, upstream
from kubenetlab.controlplane.kubernetes import (
    apiserver_argv,
    apiserver_names,
    controller_manager_argv,
    kubernetes_service_ip,
)
from kubenetlab.errors import EnvironmentProblem
from kubenetlab.spec import build_lab

THIRD_PARTY = Path(__file__).resolve().parents[2] / "third_party"


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_chain_to_the_labs_ca_with_kubernetes_identities(tmp_path: Path) -> None:
    ca = pki.Authority.create(tmp_path, "t")
    crt, key = ca.client(pki.node_identity("node1"))
    cert, root = _cert(crt), _cert(ca.ca_file)
    cert.verify_directly_issued_by(root)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:node1"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:nodes"
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # reopened, the same CA signs more
    again = pki.Authority.reopen(tmp_path)
    _cert(again.client(pki.ADMIN)[0]).verify_directly_issued_by(root)


def test_the_serving_certificate_names_every_way_the_api_is_reached(tmp_path: Path) -> None:
    lab = build_lab({"control_plane": "kubernetes", "service_cidr": "10.100.0.0/16"})
    assert lab.api_server_ip is not None
    dns, ips = apiserver_names(lab, lab.api_server_ip)
    ca = pki.Authority.create(tmp_path, "t")
    crt, _ = ca.issue("apiserver", "kube-apiserver", server=True, dns=dns, ips=ips)
    san = _cert(crt).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    got_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert got_ips == {"10.100.0.1", str(lab.api_server_ip), "127.0.0.1"}
    assert "kubernetes.default.svc.cluster.local" in san.get_values_for_type(x509.DNSName)
    assert str(kubernetes_service_ip(lab)) == "10.100.0.1"


def test_service_account_keys_are_a_pair(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key_path, pub_path = pki.Authority.create(tmp_path, "t").service_account_keys()
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    pub = serialization.load_pem_public_key(pub_path.read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == pub.public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("wrapper", "module", "pinned"),
    [("kubernetes", "k8s.io/kubernetes", upstream.KUBERNETES_VERSION),
     ("etcd", "go.etcd.io/etcd/server/v3", upstream.ETCD_VERSION)],
)  # fmt: skip
def test_pins_equal_the_wrapper_modules(wrapper: str, module: str, pinned: str) -> None:
    gomod = (THIRD_PARTY / wrapper / "go.mod").read_text()
    assert re.search(rf"^\s*(require\s+)?{re.escape(module)} {re.escape(pinned)}\b", gomod, re.M)


def test_staging_modules_are_replaced_by_their_published_versions() -> None:
    gomod = (THIRD_PARTY / "kubernetes" / "go.mod").read_text()
    replaces = re.findall(r"^\s*(k8s\.io/[\w.-]+) => (\S+) (\S+)$", gomod, re.M)
    assert len(replaces) >= 30
    minor = upstream.KUBERNETES_VERSION.split(".", 1)[1]  # 36.3
    assert all(a == b and v == f"v0.{minor}" for a, b, v in replaces)
    assert "./staging" not in gomod


def test_command_lines_carry_the_labs_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubenetlab.controlplane.kubernetes import Paths

    for project, version in {(p, v) for p, v in upstream.PROGRAMS.values()}:
        built = tmp_path / f"{project}-{version}-go1.26.0"
        built.mkdir()
        (built / ".built").write_text("")
        for name, (proj, _) in upstream.PROGRAMS.items():
            if proj == project:
                (built / name).write_text("")
                (built / name).chmod(0o755)
    monkeypatch.setenv("KNL_UPSTREAM_DIR", str(tmp_path))
    lab = build_lab({"control_plane": "kubernetes", "service_node_port_range": "31000-31999"})
    paths = Paths(tmp_path / "pki", tmp_path / "etcd")
    argv = apiserver_argv(lab, paths, lab.api_server_ip)  # type: ignore[arg-type]
    assert "--service-node-port-range=31000-31999" in argv
    assert "--service-cluster-ip-range=10.96.0.0/12" in argv
    assert "--authorization-mode=Node,RBAC" in argv and "--anonymous-auth=false" in argv
    cm = controller_manager_argv(lab, paths)
    assert "--allocate-node-cidrs=false" in cm  # the lab's plan owns the pod CIDRs


def test_an_unbuilt_program_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNL_UPSTREAM_DIR", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="run `make setup`"):
        upstream.program("kube-apiserver")
    assert "not built" in upstream.versions()["etcd"]


def test_control_plane_kubernetes_links_the_control_namespace_to_the_fabric() -> None:
    from kubenetlab.plan import Address
    from kubenetlab.topology import topology_plan

    lab = build_lab({"control_plane": "kubernetes"})
    addresses = [o for o in topology_plan(lab) if isinstance(o, Address)]
    assert any(a.netns == lab.control_netns and a.cidr.startswith(str(lab.api_server_ip))
               for a in addresses)  # fmt: skip
    etcd_lab = build_lab({"control_plane": "etcd", "services": [{"name": "a"}]})
    assert etcd_lab.api_server_ip is None
    assert not any(a.netns == etcd_lab.control_netns
                   for a in topology_plan(etcd_lab) if isinstance(a, Address))  # fmt: skip


def test_api_pods_get_the_lowest_free_address_of_their_node() -> None:
    from kubenetlab.controlplane.podnet import FIRST_API_POD_INDEX, _allocate

    lab = build_lab({"control_plane": "kubernetes", "pods_per_node": 2})
    node = lab.nodes[0]  # 10.244.0.0/24: .1 gateway, .2 and .3 the spec's pods
    ip, index = _allocate(lab, node, [])
    assert (str(ip), index) == ("10.244.0.4", FIRST_API_POD_INDEX)
    taken = [{"ip": "10.244.0.4", "index": FIRST_API_POD_INDEX}]
    assert _allocate(lab, node, taken) == (ip + 1, FIRST_API_POD_INDEX + 1)
    full = build_lab({"control_plane": "kubernetes", "pods_per_node": 1, "node_cidr_mask": 30})
    with pytest.raises(OSError, match="no free address"):
        _allocate(full, full.nodes[0], [])


def test_the_image_map_is_checked_at_lab_up() -> None:
    from kubenetlab.errors import UsageError

    lab = build_lab({"control_plane": "kubernetes", "images": {"myorg/web:*": ["python3", "-m"]}})
    assert lab.images[0] == ("myorg/web:*", ("python3", "-m"))
    assert ("python:*", ("python3",)) in lab.images  # the defaults follow the lab's own
    with pytest.raises(UsageError, match="not on this host"):
        build_lab({"control_plane": "kubernetes", "images": {"x": "no-such-program-knl"}})
    with pytest.raises(UsageError, match="needs control_plane: kubernetes"):
        build_lab({"images": {"x": "python3"}})
    with pytest.raises(UsageError, match="must map to a program"):
        build_lab({"control_plane": "kubernetes", "images": {"x": []}})


def test_go_durations_in_seconds() -> None:
    from kubenetlab.controlplane.kubeproxy import duration_seconds

    assert duration_seconds("1s") == 1.0 and duration_seconds("500ms") == 0.5
    assert duration_seconds("1m30s") == 90.0 and duration_seconds("1.5h") == 5400.0
    assert duration_seconds("250us") == duration_seconds("250µs") == 0.00025
