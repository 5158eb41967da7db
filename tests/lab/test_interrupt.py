"""SIGTERM or SIGINT to a measuring command: it tears down everything it built and exits
with 128 + the signal's number, within 5 s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.lab.conftest import LEDGER_DIR, lab_leftovers

# Alone (tests/lab/conftest.py): it asserts no lab is left anywhere after the signal.
pytestmark = [pytest.mark.lab, pytest.mark.serial]

COMMANDS = {
    "compare": ["compare", "--profiles", "native,vxlan", "--tests", "rr,stream"],
    "scenario mtu": ["scenario", "mtu", "--profiles", "vxlan", "--cases", "aligned,misaligned",
                     "--sizes", "1400"],
}  # fmt: skip


def _measuring() -> bool:
    """A measurement server (sockperf, iperf3) is recorded in some lab's ledger."""
    for path in LEDGER_DIR.glob("*.json") if LEDGER_DIR.exists() else []:
        try:
            processes = json.loads(path.read_text()).get("processes", [])
        except (OSError, ValueError):
            continue  # being replaced right now
        if any(str(p.get("role", "")).startswith("server:") and p.get("pid") for p in processes):
            return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_signal_while_measuring_tears_everything_down(command: str, signum: int) -> None:
    argv = [sys.executable, "-m", "kubenetlab", *COMMANDS[command], "--repeats", "5"]
    proc = subprocess.Popen(
        [*argv, "--duration", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not _measuring():
        assert proc.poll() is None, f"{command} ended before measuring: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"{command} did not start measuring in 120 s"
        time.sleep(0.05)
    time.sleep(0.5)  # inside a run: a client is running in a pod
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"{command} still running 5 s after {signal.Signals(signum).name}: {err}")
    took = time.monotonic() - sent
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not lab_leftovers(), f"left after {took:.1f} s: {lab_leftovers()}"
