"""Named network namespaces, created and entered without leaving the process.

`ip netns add` semantics (a bind mount of the namespace on /run/netns/NAME), but
done on the calling thread with unshare/setns so 150 namespaces cost milliseconds,
not a fork each (pyroute2's `netns.create` forks). Python 3.11 has no `os.setns`,
hence libc.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NETNS_RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_rundir_ready = False


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def netns_path(name: str) -> Path:
    return NETNS_RUN_DIR / name


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def exists(name: str) -> bool:
    return netns_path(name).exists()


def _prepare_rundir() -> None:
    # As iproute2 does: /run/netns must be a shared mount so the bind mounts
    # propagate to every mount namespace (e.g. a later `ip netns exec`).
    global _rundir_ready
    if _rundir_ready:
        return
    NETNS_RUN_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    rundir = str(NETNS_RUN_DIR).encode()
    if _libc.mount(b"none", rundir, b"none", MS_SHARED | MS_REC, None) != 0:
        _check(_libc.mount(rundir, rundir, b"none", MS_BIND | MS_REC, None), "bind /run/netns")
        _check(_libc.mount(b"none", rundir, b"none", MS_SHARED | MS_REC, None), "share /run/netns")
    _rundir_ready = True


def create(name: str) -> None:
    """Create /run/netns/NAME holding a new, empty network namespace."""
    _prepare_rundir()
    path = netns_path(name)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), f"unshare for {name}")
        _check(
            _libc.mount(b"/proc/thread-self/ns/net", str(path).encode(), b"none", MS_BIND, None),
            f"bind mount {path}",
        )
    except OSError:
        _unlink_quietly(path)
        raise
    finally:
        _check(_libc.setns(home, CLONE_NEWNET), "return to the original namespace")
        os.close(home)


def remove(name: str) -> bool:
    """Unmount and unlink /run/netns/NAME; False if it was not there."""
    path = netns_path(name)
    if not path.exists():
        return False
    # EINVAL: not a mount point (a crash between creating the file and binding it).
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0 and ctypes.get_errno() != errno.EINVAL:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {path}: {os.strerror(err)}")
    _unlink_quietly(path)
    return True


# Each umount waits for an RCU grace period after releasing the mount lock (the kernel's
# namespace_unlock), and grace periods stretch while the kernel destroys the namespaces
# already unmounted: one at a time, a 10,000-pod lab took 26 s to remove. Threads overlap
# those waits (the syscall releases the GIL). More threads do not help: the kernel's own
# namespace cleanup then keeps one CPU busy in the kernel (10,000 pods: 12-15 s here with
# 32 or 128 threads, ~50 % system time on 2 CPUs).
REMOVERS = 32


def remove_many(names: list[str]) -> int:
    """remove() every name, REMOVERS at a time; how many were there."""
    if len(names) < 2 * REMOVERS:
        return sum(remove(name) for name in names)
    with ThreadPoolExecutor(REMOVERS) as pool:
        return sum(pool.map(remove, names))


def _unlink_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)


@contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the block with this thread in namespace NAME; always return afterwards."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path(name), os.O_RDONLY)
    try:
        _check(_libc.setns(target, CLONE_NEWNET), f"enter {name}")
        yield
    finally:
        _check(_libc.setns(home, CLONE_NEWNET), "return to the original namespace")
        os.close(target)
        os.close(home)


def enter_for_exec(name: str) -> None:
    """Move the whole (single-threaded) process into NAME, for exec'ing a command there."""
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"enter {name}")
    finally:
        os.close(fd)


def inode(name: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the namespace, to find which processes live in it."""
    try:
        st = os.stat(netns_path(name))
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def processes_in(names: list[str]) -> dict[int, str]:
    """PID → namespace name, for every process whose network namespace is one of `names`."""
    wanted = {ino: name for name in names if (ino := inode(name)) is not None}
    found: dict[int, str] = {}
    if not wanted:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        name = wanted.get((st.st_dev, st.st_ino))
        if name is not None:
            found[int(entry)] = name
    return found


CLONE_NEWNS = 0x00020000
MS_PRIVATE = 1 << 18
# A private /proc is replaced after this many namespaces' sysctls (see private_proc).
PROC_NAMESPACES_PER_MOUNT = 200
_private_proc: dict[str, Any] | None = None


def private_proc() -> None:
    """Give this (single-threaded, forked) process its own mount namespace and /proc.

    Why: /proc/sys/net/ipv4 and /proc/sys/net/ipv6 are one dentry per network namespace
    under a shared parent, so the first lookup in a new namespace walks a hash chain as
    long as the namespaces already looked up there: measured 0.6 ms at 1,500 namespaces,
    2 ms at 3,000, 3.5 ms at 10,000. A procfs instance of our own, replaced every few
    hundred namespaces, keeps the chain short. Only this process sees it (its /proc is made
    private first); /run/netns stays shared, so the namespaces it creates are the host's."""
    global _private_proc
    _check(_libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    _check(_libc.mount(None, b"/proc", None, MS_PRIVATE | MS_REC, None), "make /proc private")
    _check(_libc.mount(b"proc", b"/proc", b"proc", 0, None), "mount a private /proc")
    _private_proc = {"seen": set()}


def _renew_private_proc(name: str) -> None:
    assert _private_proc is not None
    seen: set[str] = _private_proc["seen"]
    if name not in seen and len(seen) >= PROC_NAMESPACES_PER_MOUNT:
        _check(_libc.umount2(b"/proc", MNT_DETACH), "unmount the private /proc")
        _check(_libc.mount(b"proc", b"/proc", b"proc", 0, None), "mount a private /proc")
        seen.clear()
    seen.add(name)


def write_sysctl(name: str, key: str, value: str) -> None:
    """sysctl -w inside namespace NAME (/proc/sys/net follows the opening thread's namespace)."""
    if _private_proc is not None:
        _renew_private_proc(name)
    with inside(name), open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
        f.write(value)
