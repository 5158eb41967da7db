"""Processes inside lab namespaces: started, recorded, and ended by PID only.

A PID is trusted only together with its start time (field 22 of /proc/PID/stat),
so a recycled PID is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from kubenetlab import interrupt
from kubenetlab.kernel import cgroups, netns
from kubenetlab.kernel.ledger import Ledger, ProcessRecord


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[19])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of a process and of its children it has waited for
    (kube-proxy's iptables-restore runs, for one); None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime, stime, cutime, cstime: fields 14-17, counted from field 3 here
    return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS


def _enter(name: str, cpus: frozenset[int] | None = None, cgroup: Path | None = None) -> Any:
    member = cgroups.member_cgroup(name)  # looked up before the fork

    def preexec() -> None:
        interrupt.unblock_in_child()  # spawn holds them across the fork
        netns.enter_for_exec(name)
        if member is not None:
            with open(member, "w") as procs_file:  # the eBPF proxy's socket LB applies
                procs_file.write(str(os.getpid()))
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # before exec: the tool never runs elsewhere
        if cgroup is not None:
            with open(cgroup, "w") as procs_file:  # its CPU time is counted from the start
                procs_file.write(str(os.getpid()))

    return preexec


def spawn(
    ledger: Ledger,
    ns: str,
    argv: list[str],
    role: str,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
    cpus: frozenset[int] | None = None,
    cgroup: Path | None = None,
    pass_fds: tuple[int, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in namespace `ns`, recorded in the ledger."""
    entry = ProcessRecord(ns, list(argv), role)
    ledger.record_process(entry)
    with interrupt.held_across_fork():  # delivered after the PID is recorded
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_enter(ns, cpus, cgroup),
            start_new_session=True,  # outlives the command that started it, immune to its ^C
            pass_fds=pass_fds,
            env=env,
        )
        entry.pid = proc.pid
        entry.start_time = start_time(proc.pid)
        ledger.save()
    interrupt.check()  # a signal swallowed elsewhere (a __del__) is raised again
    return proc


def run_in(
    ns: str,
    argv: list[str],
    timeout: float | None = None,
    cpus: frozenset[int] | None = None,
    cgroup: Path | None = None,
    **kwargs: Any,
) -> Any:
    """Run a short command in namespace `ns` and wait for it (subprocess.run semantics)."""
    return subprocess.run(argv, preexec_fn=_enter(ns, cpus, cgroup), timeout=timeout, **kwargs)


def affinity(pid: int) -> frozenset[int] | None:
    try:
        return frozenset(os.sched_getaffinity(pid))
    except OSError:
        return None


def end_recorded(entry: ProcessRecord) -> bool:
    """End a ledger's process, if it is still the one that was started."""
    return entry.pid is not None and end(entry.pid, entry.start_time)


def is_running(entry: ProcessRecord) -> bool:
    """Still the process that was started, and not a zombie waiting to be reaped."""
    return entry.pid is not None and start_time(entry.pid) == entry.start_time and alive(entry.pid)


def end(pid: int, expected_start: int | None, grace: float = 1.0) -> bool:
    """SIGTERM, then SIGKILL after `grace` seconds; only if the PID is still the same process."""
    if expected_start is not None and start_time(pid) != expected_start:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    while alive(pid):
        time.sleep(0.01)
    return True


def visiting_cli(pid: int) -> bool:
    """A kubenetlab command (`kubenetlab …`, `python -m kubenetlab …`), not a program of a
    lab: it enters a lab's namespace only for a moment, on one thread (netns.inside: a
    `lab status` reading kube-proxy's metrics), and a lab going down in another terminal
    must not end it. A lab's own kubenetlab programs (`-m kubenetlab.agent`, …) are not."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if len(argv) >= 3 and argv[1] == b"-m" and argv[2] == b"kubenetlab":
        return True
    return len(argv) >= 2 and argv[1].endswith(b"/bin/kubenetlab")


def alive(pid: int) -> bool:
    try:
        # Our own children become zombies until reaped; reap them here.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
