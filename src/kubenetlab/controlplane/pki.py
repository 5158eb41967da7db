"""A lab's PKI, made with `cryptography`: one CA, the API server's serving certificate, a
client certificate per identity the control plane knows, the service-account key pair,
and kubeconfigs that embed them.

The identities are the ones Kubernetes' authorizers expect (as kubeadm issues them):
admin in `system:masters`; each node as `system:node:<name>` in `system:nodes` (the Node
authorizer and NodeRestriction admit only that); `system:kube-proxy`,
`system:kube-controller-manager`, `system:kube-scheduler` (bound by the default RBAC
roles); the API server's client to kubelets. ECDSA P-256 keys: quick to make (a lab is
made in seconds) and accepted everywhere these are used.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubenetlab import yamlout

if TYPE_CHECKING:  # cryptography is imported where certificates are made: every other
    # command (lab status, lab exec) is spared its 60 ms
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

VALID_FOR = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Identity:
    """A client certificate's subject: CN is the user, O the groups."""

    file: str  # base name of its files: <file>.crt, <file>.key, <file>.kubeconfig
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Identity("admin", "kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("controller-manager", "system:kube-controller-manager")
SCHEDULER = Identity("scheduler", "system:kube-scheduler")
KUBE_PROXY = Identity("kube-proxy", "system:kube-proxy")
APISERVER_KUBELET_CLIENT = Identity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("kubeadm:cluster-admins",)
)


def node_identity(node: str) -> Identity:
    return Identity(f"node-{node}", f"system:node:{node}", ("system:nodes",))


def _key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(cn: str, groups: tuple[str, ...] = ()) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Authority:
    """The lab's CA: signs every certificate in the lab's PKI directory."""

    def __init__(
        self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
    ) -> None:
        self.dir, self.key, self.cert = directory, key, cert

    @classmethod
    def create(cls, directory: Path, lab: str) -> Authority:
        """A new CA in `directory` (ca.crt, ca.key)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        usage = x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False,
        )  # fmt: skip
        now = datetime.datetime.now(datetime.UTC)
        key = _key()
        subject = _name(f"kubenetlab-{lab}-ca")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, key, cert)
        ca._write("ca.crt", cert.public_bytes(serialization.Encoding.PEM))
        ca._write("ca.key", _pem_key(key), secret=True)
        return ca

    @classmethod
    def reopen(cls, directory: Path) -> Authority:
        """The CA a lab already has, to issue more certificates (a kubeconfig, a new node)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca.key'}: not the lab's CA key")
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        return cls(directory, key, cert)

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.crt"

    def _write(self, name: str, data: bytes, secret: bool = False) -> Path:
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def issue(
        self,
        file: str,
        cn: str,
        groups: tuple[str, ...] = (),
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        """<file>.crt and <file>.key, signed by this CA; a client certificate unless `server`."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, groups))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        crt = self._write(f"{file}.crt", cert.public_bytes(serialization.Encoding.PEM))
        return crt, self._write(f"{file}.key", _pem_key(key), secret=True)

    def client(self, who: Identity) -> tuple[Path, Path]:
        return self.issue(who.file, who.user, who.groups)

    def service_account_keys(self) -> tuple[Path, Path]:
        """sa.key signs service-account tokens (controller-manager, API server), sa.pub checks them."""
        from cryptography.hazmat.primitives import serialization

        key = _key()
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return self._write("sa.key", _pem_key(key), secret=True), self._write("sa.pub", pub)

    def kubeconfig(self, who: Identity, server: str, cluster: str) -> Path:
        """A kubeconfig for `who` with its certificate and key inline (as kind's and kubeadm's
        are), so it can be copied anywhere the server address is reachable from."""
        crt, key = self.client(who)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {
                "server": server,
                "certificate-authority-data": _b64(self.ca_file.read_bytes()),
            }}],
            "users": [{"name": who.user, "user": {
                "client-certificate-data": _b64(crt.read_bytes()),
                "client-key-data": _b64(key.read_bytes()),
            }}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": who.user}}],
            "current-context": cluster,
            "preferences": {},
        }  # fmt: skip
        return self._write(f"{who.file}.kubeconfig", yamlout.dump(config).encode(), secret=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
