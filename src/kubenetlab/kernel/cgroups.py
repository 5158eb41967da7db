"""A cgroup the lab owns for its measuring processes, so CPU time is theirs alone.

This host mounts cgroup v1 with `cpuacct` (cpuacct.usage, ns) and a cgroup v2 hierarchy
without the cpu controller (cpu.stat usage_usec is always there in v2): both are read.
The directory is named `knl-<lab>-measure`, written to the ledger before it is made, and
removed (rmdir) with the lab; `lab down --all` removes any `knl-` cgroup left by a crash.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubenetlab.errors import EnvironmentProblem
from kubenetlab.model import NAME_PREFIX

CGROUP_ROOT = Path(os.environ.get("KUBENETLAB_CGROUP_ROOT", "/sys/fs/cgroup"))


@dataclass(frozen=True)
class Cgroup:
    path: Path
    version: int  # 1 (cpuacct) or 2

    def usage_s(self) -> float:
        """CPU seconds its processes used so far (user + system)."""
        if self.version == 1:
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise OSError(f"{self.path}/cpu.stat has no usage_usec")

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"


def hierarchy() -> tuple[Path, int] | None:
    """Where CPU accounting is available: cgroup v1 cpuacct first, then v2."""
    v1 = CGROUP_ROOT / "cpuacct"
    if (v1 / "cpuacct.usage").exists():
        return v1, 1
    for v2 in (CGROUP_ROOT / "unified", CGROUP_ROOT):
        if (v2 / "cgroup.controllers").exists():
            return v2, 2
    return None


def name_for(lab: str, purpose: str = "measure") -> str:
    return f"{NAME_PREFIX}{lab}-{purpose}"


def create(lab: str, record: Callable[[str], None], purpose: str = "measure") -> Cgroup | None:
    """A CPU-accounting cgroup of the lab (`measure`: what a measurement runs in;
    `proxy-<node>`: a node's service proxy and its children), made after `record(path)`
    wrote it down; None when this host has no CPU accounting to read."""
    found = hierarchy()
    if found is None:
        return None
    root, version = found
    path = root / name_for(lab, purpose)
    if not path.exists():
        record(str(path))
        path.mkdir()
    return Cgroup(path, version)


def proxy_cgroup(node: str) -> str:
    """The purpose of a node's service-proxy cgroup (kube-proxy or the eBPF agent)."""
    return f"proxy-{node}"


def existing(lab: str, purpose: str) -> Cgroup | None:
    """A cgroup `create` made earlier (in another process), None if there is none."""
    found = hierarchy()
    if found is None or not (found[0] / name_for(lab, purpose)).is_dir():
        return None
    return Cgroup(found[0] / name_for(lab, purpose), found[1])


def v2_root() -> Path | None:
    """The cgroup v2 hierarchy (hybrid hosts mount it at unified/), None without one."""
    for v2 in (CGROUP_ROOT / "unified", CGROUP_ROOT):
        if (v2 / "cgroup.procs").exists() and (v2 / "cgroup.controllers").exists():
            return v2
    return None


def socket_lb_name(lab: str) -> str:
    """The eBPF proxy's cgroup tree: <v2>/knl-<lab>-socklb/<node netns>/<member netns>."""
    return f"{NAME_PREFIX}{lab}-socklb"


def member_cgroup(ns: str) -> Path | None:
    """The socket-LB cgroup of a lab namespace's processes, if its lab runs the eBPF proxy:
    every process kubenetlab starts in a pod or node joins it, as Cilium's socket LB
    covers every process on a node. Namespace names are unique, so the match is exact."""
    root = v2_root()
    if root is None or not ns.startswith(NAME_PREFIX):
        return None
    for found in root.glob(f"{NAME_PREFIX}*-socklb/*/{ns}"):
        return found / "cgroup.procs"
    return None


def blkio_throttled(
    name: str, path_on_disk: str, write_iops: int, pids: list[int], record: Callable[[str], None]
) -> Path:
    """A cgroup v1 blkio group (recorded first) limiting writes to the disk holding
    `path_on_disk` to `write_iops`, with `pids` moved in; its cgroup.procs is where more go."""
    root = CGROUP_ROOT / "blkio"
    if not (root / "blkio.throttle.write_iops_device").exists():
        raise EnvironmentProblem(
            "a write-throttled disk needs the cgroup v1 blkio controller mounted"
        )
    dev = os.stat(path_on_disk).st_dev
    group = root / name
    record(str(group))
    group.mkdir(exist_ok=True)
    (group / "blkio.throttle.write_iops_device").write_text(
        f"{os.major(dev)}:{os.minor(dev)} {write_iops}"
    )
    for pid in pids:
        (group / "cgroup.procs").write_text(str(pid))
    return group


def remove(path: str, wait: float = 2.0) -> bool:
    """rmdir once its processes are gone (an exiting process may linger a moment);
    child cgroups first."""
    top = Path(path)
    if top.is_dir():
        for child in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            _rmdir(str(child), wait)
    return _rmdir(path, wait)


def _rmdir(path: str, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def leftovers() -> list[str]:
    """`knl-` cgroups in any hierarchy (after a crash)."""
    if not CGROUP_ROOT.exists():
        return []
    found = []
    for root in [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]:
        try:
            found += [str(d) for d in root.iterdir() if d.name.startswith(NAME_PREFIX)]
        except OSError:
            continue
    return sorted(set(found))
