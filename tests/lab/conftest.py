"""Every lab test: the root namespace must be byte-identical afterwards and no lab
namespace, ledger file or process in a lab namespace may remain.

The suite runs most lab tests three at a time (scripts/test.sh: pytest-xdist, three
workers); a test marked `serial` runs alone. In a worker another test's lab may be up,
so each test checks there only what no lab may ever change — the root namespace — and
the leftovers and stray processes of the whole parallel run are checked once it is
over (tests/lab/phase.py); alone, each test checks everything itself. One worker runs
each module (`--dist loadfile`): a module's tests may share a lab."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

LEDGER_DIR = Path("/run/kubenetlab")
# In a pytest-xdist worker: other tests' labs may be up beside this test's.
IN_WORKER = "PYTEST_XDIST_WORKER" in os.environ

ROOT_STATE_COMMANDS = [
    ["ip", "-o", "link", "show"],
    ["ip", "-o", "addr", "show"],
    ["ip", "route", "show", "table", "all"],
    ["ip", "-6", "route", "show", "table", "all"],
    ["ip", "rule", "show"],
    ["ip", "-6", "rule", "show"],
    ["ip", "neigh", "show", "nud", "permanent"],
    ["tc", "qdisc", "show"],
    ["iptables-save"],
    ["ip6tables-save"],
    ["iptables-legacy-save"],
    ["nft", "list", "ruleset"],
    # BPF: nothing attached to the root namespace's links or to any cgroup outside the lab's.
    ["bpftool", "net", "show"],
    ["bpftool", "cgroup", "tree"],
    ["nfacct", "list"],  # kube-proxy's counters live in the node namespaces only
]
ROOT_SYSCTLS = [
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv6/conf/all/disable_ipv6",
]

# Counters and generation timestamps change with unrelated host traffic; the rules do not.
_VOLATILE = [
    (re.compile(r"^#.*$", re.M), ""),
    (re.compile(r"\[\d+:\d+\]"), "[]"),
    (re.compile(r"counter packets \d+ bytes \d+"), "counter"),
]


def _without_lab_cgroups(tree: str) -> str:
    """`bpftool cgroup tree` less the blocks of lab cgroups (knl-…): a lab's eBPF proxy
    attaches to the cgroups it made, which are another running test's in a worker."""
    kept, skipping = [], False
    for line in tree.splitlines():
        if line.startswith("/"):
            skipping = "/knl-" in line
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def root_state() -> dict[str, str]:
    state: dict[str, str] = {}
    for cmd in ROOT_STATE_COMMANDS:
        if shutil.which(cmd[0]) is None:
            state[" ".join(cmd)] = "<not installed>"
            continue
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        for pattern, repl in _VOLATILE:
            out = pattern.sub(repl, out)
        if IN_WORKER and cmd[:3] == ["bpftool", "cgroup", "tree"]:
            out = _without_lab_cgroups(out)
        state[" ".join(cmd)] = out
    for key in ROOT_SYSCTLS:
        state[key] = Path(f"/proc/sys/{key}").read_text()
    return state


def processes_outside_my_netns() -> dict[int, tuple[int, int]]:
    mine = os.stat("/proc/self/ns/net")
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                st = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
                found[int(entry)] = (st.st_dev, st.st_ino)
    return found


def lab_leftovers() -> list[str]:
    left = []
    netns_dir = Path("/run/netns")
    if netns_dir.exists():
        left += [f"netns {n}" for n in os.listdir(netns_dir) if n.startswith("knl-")]
    if LEDGER_DIR.exists():
        left += [f"ledger {p.name}" for p in LEDGER_DIR.iterdir()]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [f"root link {m}" for m in re.findall(r"knl-[^:@ ]*", links)]
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    left += [f"mount {m.split()[1]}" for m in mounts if "kubenetlab" in m.split()[1]]
    cgroup_root = Path("/sys/fs/cgroup")
    for hierarchy in [cgroup_root, *(p for p in cgroup_root.iterdir() if p.is_dir())]:
        left += [f"cgroup {d}" for d in hierarchy.glob("knl-*")]
    return left


@contextmanager
def hygiene() -> Iterator[None]:
    """Around a test, or around a module's shared lab: nothing of a lab before, nothing
    left after, the root namespace unchanged, no process left in another namespace. In a
    worker, the root namespace only (see the module's docstring)."""
    if IN_WORKER:
        with root_unchanged():
            yield
        return
    assert not lab_leftovers(), f"lab objects exist before the test: {lab_leftovers()}"
    before = root_state()
    procs_before = processes_outside_my_netns()
    yield
    left = lab_leftovers()
    if left:  # clean up for the next test, then fail this one
        run_cli("lab", "down", "--all")
    assert not left, f"left behind: {left}"
    _assert_unchanged(before)
    new_procs = {
        pid
        for pid, ns in processes_outside_my_netns().items()
        if pid not in procs_before and Path(f"/proc/{pid}").exists()
    }
    assert not new_procs, f"processes left in other network namespaces: {sorted(new_procs)}"


def _assert_unchanged(before: dict[str, str]) -> None:
    changed = [key for key, value in root_state().items() if before[key] != value]
    assert not changed, f"root namespace changed: {changed}"


@contextmanager
def root_unchanged() -> Iterator[None]:
    before = root_state()
    yield
    _assert_unchanged(before)


@pytest.fixture(autouse=True)
def lab_hygiene(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every lab test; a module whose tests share one lab (SHARED_LAB = True) is checked
    whole around that lab (tests/lab/helpers.shared_lab), and each of its tests must still
    leave the root namespace as it found it."""
    if getattr(request.module, "SHARED_LAB", False):
        with root_unchanged():
            yield
        return
    with hygiene():
        yield


def run_cli(
    *args: str, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubenetlab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
