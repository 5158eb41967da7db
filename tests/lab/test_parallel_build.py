"""A lab big enough to be built by one process per CPU (kernel/parallel.py): every pod
works and reaches pods another process built; killed with SIGKILL mid-build, the worker
processes die with it and `lab down --all` leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kubenetlab.kernel.parallel import MIN_GROUPS
from tests.lab.conftest import LEDGER_DIR, lab_leftovers, run_cli
from tests.lab.helpers import lab, lab_exec

# Alone (tests/lab/conftest.py): its `lab down --all` would end the other worker's labs.
pytestmark = [pytest.mark.lab, pytest.mark.serial]

NODES, PODS = 6, 100  # 600 pods: above MIN_GROUPS, so built in parallel


def test_parallel_build_gives_a_working_lab() -> None:
    assert NODES * PODS >= MIN_GROUPS
    with lab("--name", "t-par", "--profile", "vxlan", "--nodes", str(NODES),
             "--pods-per-node", str(PODS)) as doc:  # fmt: skip
        pods = {p["name"]: p for p in doc["pods"]}
        assert len(pods) == NODES * PODS
        # Pods are dealt out to the workers in turn: these were built by different ones.
        for src, dst in (("node1-pod1", "node6-pod100"), ("node3-pod50", "node3-pod51"),
                         ("node6-pod99", "node1-pod2")):  # fmt: skip
            ping = lab_exec("t-par", src, "ping", "-c1", "-W2", pods[dst]["ip"])
            assert ping.returncode == 0, (src, dst, ping.stdout)
        links = lab_exec("t-par", "node2", "ip", "-o", "link", "show")
        assert sum(" knl-p" in line for line in links.stdout.splitlines()) == PODS


def test_sigkill_mid_parallel_build_leaves_nothing_running() -> None:
    argv = [sys.executable, "-m", "kubenetlab", "lab", "up", "--name", "t-park",
            "--nodes", str(NODES), "--pods-per-node", str(PODS)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = LEDGER_DIR / "t-park.json"
    deadline = time.monotonic() + 60
    try:
        # Kill once the workers are creating pod namespaces: tied to progress, not to time.
        while _pod_namespaces() < 50 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert json.loads(ledger.read_text())["state"] == "building"  # killed mid-build
    finally:
        down = run_cli("lab", "down", "--all")
    assert down.returncode == 0, down.stderr
    time.sleep(1.0)  # a worker that outlived its parent would create namespaces again
    assert not lab_leftovers(), lab_leftovers()
    assert _pod_namespaces() == 0


def _pod_namespaces() -> int:
    return sum(1 for n in os.listdir("/run/netns") if n.startswith("knl-t-park-") and "-pod" in n)
