"""`lab up` killed with SIGKILL mid-construction; `lab down --all` must leave nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.conftest import LEDGER_DIR, lab_leftovers, run_cli

# Alone (tests/lab/conftest.py): its kills and `lab down --all` would end the other worker's labs.
pytestmark = [pytest.mark.lab, pytest.mark.serial]

UP = [
    sys.executable,
    "-m",
    "kubenetlab",
    "lab",
    "up",
    "--name",
    "t-crash",
    "--nodes",
    "3",
    "--pods-per-node",
    "50",
]


def _kill(after_ledger: float | None) -> tuple[str | None, set[str], set[str]]:
    """Start `lab up` and SIGKILL it: right away (None), or `after_ledger` seconds after its
    ledger appears — kill points tied to progress, not to how fast this machine starts Python.
    Return the ledger state, the namespaces it records, and the namespaces that exist."""
    ledger = LEDGER_DIR / "t-crash.json"
    proc = subprocess.Popen(UP, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if after_ledger is None:
        time.sleep(0.05)
    else:
        deadline = time.monotonic() + 30
        while not ledger.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(after_ledger)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    live = (
        {n for n in os.listdir("/run/netns") if n.startswith("knl-t-crash-")}
        if Path("/run/netns").exists()
        else set()
    )
    if not ledger.exists():
        return None, set(), live
    data = json.loads(ledger.read_text())
    return data["state"], set(data["netns"]), live


def test_sigkill_during_lab_up_then_down_all_leaves_nothing() -> None:
    states = []
    # Before the ledger exists, as it is written, and through the ~2 s build of 154 namespaces.
    for delay in (None, 0.0, 0.05, 0.3, 0.8, 1.4):
        state, recorded, live = _kill(delay)
        states.append(state)
        # Written down before created: nothing exists that the ledger does not list.
        assert live <= recorded, f"unrecorded namespaces after kill at {delay}: {live - recorded}"
        down = run_cli("lab", "down", "--all")
        assert down.returncode == 0, down.stderr
        assert not lab_leftovers(), f"kill at {delay}: {lab_leftovers()}"
    assert states.count("building") >= 3, f"too few kills landed mid-construction: {states}"


def test_down_all_removes_namespaces_without_a_ledger() -> None:
    # A crash can leave namespaces the ledger no longer names (a deleted or torn ledger).
    proc = subprocess.run([*UP[:-4], "--nodes", "2", "--pods-per-node", "2"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    (LEDGER_DIR / "t-crash.json").unlink()
    assert any(n.startswith("knl-t-crash-") for n in os.listdir("/run/netns"))
    down = run_cli("lab", "down", "--all", "-o", "json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["netns_removed"] == 7
    assert not lab_leftovers()
