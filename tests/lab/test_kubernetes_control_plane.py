"""`lab up --control-plane kubernetes`: the upstream etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built by `make setup`, run in the lab's control
namespace and reached from the host through the lab's forwarder with `kubectl`: what
kills or interrupts it, each on a lab of its own (what only reads a Kubernetes lab shares
one: test_kubernetes_lab.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.lab.conftest import LEDGER_DIR, lab_leftovers, run_cli

# Alone (tests/lab/conftest.py): it asserts no lab is left anywhere and ends every lab.
pytestmark = [pytest.mark.lab, pytest.mark.serial]

SPEC = textwrap.dedent("""\
    name: {name}
    profile: native
    control_plane: kubernetes
    service_node_port_range: 31000-31999
    services:
      - {{name: web, type: NodePort, port: 80, target_port: 8080, replicas: 2}}
      - {{name: db, namespace: data, port: 5432}}
    """)


def _spec(tmp_path: Path, name: str) -> str:
    path = tmp_path / "lab.yaml"
    path.write_text(SPEC.format(name=name))
    return str(path)


def test_sigterm_during_lab_up_leaves_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubenetlab", "lab", "up", "-f", _spec(tmp_path, "kcs"),
         "--name", "kcs"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # the API server has been started: mid-way through the control plane
        ledger = LEDGER_DIR / "kcs.json"
        if ledger.exists() and "kube-apiserver" in ledger.read_text():
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not lab_leftovers()


def test_unbuilt_binaries_are_exit_3_before_anything_is_built(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "lab", "up", "--name", "kcu",
         "--control-plane", "kubernetes"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "KNL_UPSTREAM_DIR": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "make setup" in out.stderr and out.stderr.count("\n") == 1
    assert not lab_leftovers()


def test_sigkill_during_lab_up_then_down_all_leaves_nothing(tmp_path: Path) -> None:
    """kill -9 once the kubelets are starting: the control plane, the forwarder, the PKI and
    etcd's data are all in place; `lab down --all` must find and remove every one."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubenetlab", "lab", "up", "-f", _spec(tmp_path, "kck"),
         "--name", "kck"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ledger = LEDGER_DIR / "kck.json"
    deadline = time.monotonic() + 90
    while not (ledger.exists() and '"kubelet"' in ledger.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lab_leftovers()  # something to clean up
    state_dir = LEDGER_DIR / "kck.d"
    assert (state_dir / "pki" / "ca.key").exists()
    down = run_cli("lab", "down", "--all")
    assert down.returncode == 0, down.stderr
    assert not lab_leftovers() and not state_dir.exists()
