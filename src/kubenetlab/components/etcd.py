"""etcd as the lab's control plane: a real etcd (Debian's etcd-server, 3.4) in the lab's
`control` namespace, on loopback only, holding the lab's Services and EndpointSlices as
Kubernetes JSON under `/registry/…`; per-node agents (components/agents.py) watch it.

Debian's package is used because it is there and signed; its 3.4 serves the v3 API and
the JSON gateway the agents use. The data directory is the lab's own (its state dir on
/run, a tmpfs, unless `etcd_data_dir` names a disk): recorded before it is made, removed
with the lab.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubenetlab.components.base import Component
from kubenetlab.errors import KnlError
from kubenetlab.kernel import netns, procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab, netns_prefix
from kubenetlab.store import Etcd, EtcdError, write_services

CLIENT_URL = "http://127.0.0.1:2379"
PEER_URL = "http://127.0.0.1:2380"


def etcd_argv(name: str, data_dir: Path) -> list[str]:
    return [
        "etcd", "--name", name, "--data-dir", str(data_dir),
        "--listen-client-urls", CLIENT_URL, "--advertise-client-urls", CLIENT_URL,
        "--listen-peer-urls", PEER_URL, "--initial-advertise-peer-urls", PEER_URL,
        "--initial-cluster", f"{name}={PEER_URL}", "--initial-cluster-state", "new",
    ]  # fmt: skip


def data_dir(lab: Lab, ledger: Ledger) -> Path:
    if lab.etcd_data_dir:
        path = Path(lab.etcd_data_dir) / f"{netns_prefix(lab.name)}etcd"
        ledger.record_file(f"{path}/")  # removed whole with the lab
        path.mkdir()
        return path
    return ledger.state_tree("etcd")


def wait_healthy(store: Etcd, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if store.health():
                return
        except EtcdError:
            pass
        if time.monotonic() > deadline:
            raise KnlError(f"etcd did not become healthy in {seconds:.0f} s")
        time.sleep(0.05)


class EtcdStore(Component):
    name = "etcd"
    roles = ("etcd",)

    def wanted(self, lab: Lab) -> bool:
        return lab.control_plane == "etcd"

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        return (("etcd", "etcd-server"),)

    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        assert lab.control_netns is not None
        path = data_dir(lab, ledger)
        log = open(ledger.state_file("etcd.log"), "w")  # noqa: SIM115 (the child keeps it)
        procs.spawn(ledger, lab.control_netns, etcd_argv(lab.name, path), role="etcd",
                    stdout=log, stderr=log)  # fmt: skip
        log.close()
        store = Etcd(CLIENT_URL)
        with netns.inside(lab.control_netns):
            wait_healthy(store)
            revision = write_services(store, lab.services)
        return {"etcd_revision": revision, "etcd_data_dir": str(path)}

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        assert lab.control_netns is not None
        store = Etcd(CLIENT_URL, timeout=1.0)
        try:
            with netns.inside(lab.control_netns):
                healthy, revision = store.health(), store.revision()
        except EtcdError as exc:
            return {"etcd": {"health": f"unreachable: {exc}"}}
        return {"etcd": {"health": "ok" if healthy else "unhealthy", "revision": revision}}
