"""Build a large lab's leaf namespaces (pods) on every CPU.

A plan is ordered; most of a 10,000-pod lab is 10,000 independent groups of objects, one
per pod: its namespace, its sysctls, its veth (made in the node, peer in the pod), the
node-side link and route for that veth, the pod's links, address and routes. A leaf
namespace is one that only ever appears as the peer of a single veth; its group is every
object in it, that veth, and every later object naming that veth's node-side end. What
is in no group (fabric, nodes, tunnels, inter-node routes) never names a group's link, so
it is applied first, in plan order; then the groups are shared out to one child process
per CPU (os.fork: Python's netlink encoding is the cost, and it is per process), each
with a /proc of its own (kernel/netns.py, private_proc) while this process reports their
progress. Below MIN_GROUPS the plan is applied in one process, in order, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
from collections.abc import Callable

from kubenetlab.kernel import netns
from kubenetlab.plan import KernelObject, Netns, Veth

PR_SET_PDEATHSIG = 1
MIN_GROUPS = 500  # below this, forking costs more than it saves
STEP = 100  # a child reports progress every STEP objects
Apply = Callable[[list[KernelObject], Callable[[], None] | None], None]


def _ifname(obj: KernelObject) -> str | None:
    return getattr(obj, "ifname", None) or getattr(obj, "dev", None)


def split(objects: list[KernelObject]) -> tuple[list[KernelObject], list[list[KernelObject]]]:
    """(shared objects in plan order, the leaf groups, each in plan order)."""
    peers: dict[str, int] = {}
    for o in objects:
        if isinstance(o, Veth):
            peers[o.peer_netns] = peers.get(o.peer_netns, 0) + 1
    leaves = {ns for ns, n in peers.items() if n == 1} - {
        o.netns for o in objects if isinstance(o, Veth)
    }
    groups: dict[str, list[KernelObject]] = {}
    owned: dict[tuple[str, str], str] = {}  # (netns, ifname) → leaf
    shared: list[KernelObject] = []
    for o in objects:
        if isinstance(o, Netns):
            leaf = o.name if o.name in leaves else None
        elif isinstance(o, Veth) and o.peer_netns in leaves:
            leaf = o.peer_netns
            owned[(o.netns, o.ifname)] = leaf
        elif o.netns in leaves:  # type: ignore[attr-defined]
            leaf = o.netns  # type: ignore[attr-defined]
        else:
            leaf = owned.get((o.netns, _ifname(o) or ""))  # type: ignore[attr-defined]
        if leaf is None:
            shared.append(o)
        else:
            groups.setdefault(leaf, []).append(o)
    return shared, list(groups.values())


def apply_parallel(
    objects: list[KernelObject],
    apply_one: Apply,
    error_of: Callable[[KernelObject, str], Exception],
    on_step: Callable[[], None] | None = None,
    workers: int | None = None,
) -> None:
    """Shared objects first, here; then the leaf groups over `workers` child processes,
    whose progress this one reports. The first failure raises `error_of(object, message)`."""
    shared, groups = split(objects)
    workers = workers or min(os.cpu_count() or 1, 8)
    if len(groups) < MIN_GROUPS or workers < 2:
        apply_one(objects, on_step)
        return
    apply_one(shared, on_step)
    shares = [[o for g in groups[i::workers] for o in g] for i in range(workers)]
    children: dict[int, tuple[int, list[KernelObject]]] = {}  # pipe fd → (pid, share)
    try:
        for share in shares:
            pid, fd = _fork(share, apply_one)
            children[fd] = (pid, share)
        reports = _follow(list(children), on_step)
        failures = []
        for fd, (pid, share) in list(children.items()):
            _, status = os.waitpid(pid, 0)
            del children[fd]
            os.close(fd)
            if os.waitstatus_to_exitcode(status) != 0:
                failures.append(_failure(reports[fd], share, status, error_of))
        if failures:
            raise failures[0]
    finally:
        for fd, (pid, _) in children.items():  # interrupted: end our own children, by PID
            _kill(pid, fd)


def _follow(fds: list[int], on_step: Callable[[], None] | None) -> dict[int, bytes]:
    """Read the children's pipes until each closes: a "." per STEP objects done, then
    (on failure) "!" and the report. Returns each child's report."""
    reports = {fd: b"" for fd in fds}
    failed: set[int] = set()
    open_fds = set(fds)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                open_fds.discard(fd)
                continue
            if fd in failed:
                reports[fd] += data
                continue
            dots, bang, rest = data.partition(b"!")
            if on_step is not None:
                for _ in range(len(dots) * STEP):
                    on_step()
            if bang:
                failed.add(fd)
                reports[fd] += rest
    return reports


def _failure(
    report: bytes, share: list[KernelObject], status: int,
    error_of: Callable[[KernelObject, str], Exception],
) -> Exception:  # fmt: skip
    index_text, _, message = report.decode(errors="replace").partition("\t")
    index = int(index_text) if index_text.lstrip("-").isdigit() else -1
    obj = share[index] if 0 <= index < len(share) else share[0]
    return error_of(obj, message or f"worker process exited with status {status}")


def _fork(share: list[KernelObject], apply_one: Apply) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(write_fd)
        return pid, read_fd
    # The child: apply its share, report progress and the first failure, never return.
    os.close(read_fd)
    code = 0
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if done % STEP == 0:
            os.write(write_fd, b".")

    try:
        # Die with the parent (even by SIGKILL), so nothing goes on building after
        # `lab down --all` has cleaned up; and end on ^C/SIGTERM like a plain process.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        netns.private_proc()  # short /proc/sys lookups in new namespaces (see there)
        apply_one(share, step)
    except BaseException as exc:
        failed = getattr(exc, "obj", None)
        index = share.index(failed) if failed in share else -1
        os.write(write_fd, f"!{index}\t{getattr(exc, 'cause', exc)}".encode()[:4000])
        code = 1
    os._exit(code)


def _kill(pid: int, fd: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    with contextlib.suppress(OSError):
        os.close(fd)
