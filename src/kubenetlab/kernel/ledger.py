"""The ledger: every namespace, link and process a lab makes, written down first.

One JSON file per lab, `/run/kubenetlab/<lab>.json`, replaced atomically. The
whole plan is recorded before the first object is created, and a process is
recorded (command, namespace) before it is started and again with its PID and
start time right after, so `lab down` can remove a half-built lab and never ends
a recycled PID.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.model import Lab
from kubenetlab.plan import Bridge, Ipip, KernelObject, Netns, Veth, Vxlan

LEDGER_DIR = Path(os.environ.get("KUBENETLAB_RUN_DIR", "/run/kubenetlab"))
LOCK_FILE = Path("/run/lock/kubenetlab.lock")
SCHEMA_VERSION = 1


@contextmanager
def exclusive() -> Iterator[None]:
    """Serialise lab up/down across processes."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ledger_path(lab_name: str) -> Path:
    return LEDGER_DIR / f"{lab_name}.json"


def known_labs() -> list[str]:
    try:
        return sorted(p.stem for p in LEDGER_DIR.glob("*.json"))
    except FileNotFoundError:
        return []


def remove_torn_ledger_writes() -> None:
    """Temporary files of a save that a kill interrupted."""
    for tmp in LEDGER_DIR.glob("*.tmp") if LEDGER_DIR.exists() else []:
        tmp.unlink(missing_ok=True)


def bpf_dir(lab_name: str) -> Path:
    """Where a lab's own bpf file system is mounted (its pinned programs and maps). No dot
    in the name: libbpf turns every '.' of a pin path into '_'."""
    return LEDGER_DIR / f"bpf-{lab_name}"


def orphan_bpf_mounts() -> list[Path]:
    """bpf file systems whose ledger is gone."""
    if not LEDGER_DIR.exists():
        return []
    return [d for d in LEDGER_DIR.glob("bpf-*") if not (LEDGER_DIR / f"{d.name[4:]}.json").exists()]


def orphan_state_dirs() -> list[Path]:
    """State directories whose ledger is gone (a crash between the two removals)."""
    if not LEDGER_DIR.exists():
        return []
    return [d for d in LEDGER_DIR.glob("*.d") if not (LEDGER_DIR / f"{d.name[:-2]}.json").exists()]


def links_of(objects: list[KernelObject]) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    for obj in objects:
        if isinstance(obj, Bridge | Vxlan | Ipip):
            links.append({"netns": obj.netns, "ifname": obj.ifname})
        elif isinstance(obj, Veth):
            links.append({"netns": obj.netns, "ifname": obj.ifname})
            links.append({"netns": obj.peer_netns, "ifname": obj.peer_ifname})
    return links


@dataclass
class ProcessRecord:
    """A process the lab started: written before it starts (pid None), then with its PID
    and start time, so a recycled PID is never signalled."""

    netns: str
    argv: list[str]
    role: str
    pid: int | None = None
    start_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "netns": self.netns,
            "argv": self.argv,
            "role": self.role,
            "pid": self.pid,
            "start_time": self.start_time,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        pid, start = data.get("pid"), data.get("start_time")
        return cls(
            netns=str(data.get("netns", "")),
            argv=[str(a) for a in data.get("argv", [])],
            role=str(data.get("role", "")),
            pid=int(pid) if pid else None,
            start_time=int(start) if start is not None else None,
        )


@dataclass
class Ledger:
    name: str
    state: str
    lab: dict[str, Any]
    netns: list[str]
    links: list[dict[str, str]] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # state files the lab's processes read
    cgroups: list[str] = field(default_factory=list)  # cgroup directories the lab made
    mounts: list[str] = field(default_factory=list)  # bpf file systems (its pinned maps)
    bpf_links: list[dict[str, str]] = field(default_factory=list)  # program attachments
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)  # per-feature state (e.g. timings)

    @property
    def path(self) -> Path:
        return ledger_path(self.name)

    @classmethod
    def begin(cls, lab: Lab, objects: list[KernelObject]) -> Ledger:
        """Record the whole plan, before anything is created."""
        ledger = cls(
            name=lab.name,
            state="building",
            lab=lab.to_dict(),
            netns=[obj.name for obj in objects if isinstance(obj, Netns)],
            links=links_of(objects),
        )
        ledger.save()
        return ledger

    @classmethod
    def load(cls, name: str) -> Ledger | None:
        try:
            data = json.loads(ledger_path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # A torn or foreign file: keep what can be read so teardown still works.
            return cls(name=name, state="corrupt", lab={}, netns=[])
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Valid JSON of the wrong shape (edited by hand, another version's): the same.
            netns = data.get("netns") if isinstance(data, dict) else None
            kept = [n for n in netns if isinstance(n, str)] if isinstance(netns, list) else []
            return cls(name=name, state="corrupt", lab={}, netns=kept)

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Ledger:
        if not isinstance(data.get("lab", {}), dict) or not isinstance(data["name"], str):
            raise ValueError("not a ledger")
        return cls(
            name=data["name"],
            state=data.get("state", "unknown"),
            lab=data.get("lab", {}),
            netns=list(data.get("netns", [])),
            links=list(data.get("links", [])),
            processes=[ProcessRecord.from_dict(p) for p in data.get("processes", [])],
            files=list(data.get("files", [])),
            cgroups=list(data.get("cgroups", [])),
            mounts=list(data.get("mounts", [])),
            bpf_links=list(data.get("bpf_links", [])),
            created_at=float(data.get("created_at", 0.0)),
            extra=dict(data.get("extra", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "state": self.state,
            "created_at": self.created_at,
            "lab": self.lab,
            "netns": self.netns,
            "links": self.links,
            "processes": [p.to_dict() for p in self.processes],
            "files": self.files,
            "cgroups": self.cgroups,
            "mounts": self.mounts,
            "bpf_links": self.bpf_links,
            "extra": self.extra,
        }

    def save(self) -> None:
        LEDGER_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, self.path)

    @property
    def state_dir(self) -> Path:
        return LEDGER_DIR / f"{self.name}.d"

    def state_file(self, name: str) -> Path:
        """A file for the lab's processes, recorded before it is written."""
        path = self.state_dir / name
        if str(path) not in self.files:
            self.files.append(str(path))
            self.save()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return path

    def state_tree(self, name: str) -> Path:
        """A directory for a process's own files (nginx temp paths), recorded before it is
        made and removed whole with the lab."""
        path = self.state_dir / name
        if f"{path}/" not in self.files:
            self.files.append(f"{path}/")
            self.save()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pod_netns(self) -> list[str]:
        """Namespaces of the Pods the lab's kubelets made (controlplane/podnet.py records
        each one here before making it)."""
        out = []
        for path in sorted((self.state_dir / "pods").glob("*.json")):
            try:
                out.append(str(json.loads(path.read_text())["netns"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-written: its namespace, if any, has the lab's prefix
        return out

    def record_cgroup(self, path: str) -> None:
        self.cgroups.append(path)
        self.save()

    def record_file(self, path: str) -> None:
        """A file, or a directory (ending in /) removed whole with the lab."""
        self.files.append(path)
        self.save()

    def record_process(self, entry: ProcessRecord) -> None:
        self.processes.append(entry)
        self.save()

    def forget_processes(self, ended: Callable[[ProcessRecord], bool]) -> None:
        """Drop the records of processes that have been ended (`ended` picks them)."""
        self.processes = [p for p in self.processes if not ended(p)]
        self.save()

    def record_bpf_links(self, links: list[dict[str, str]]) -> None:
        """BPF attachments about to be made (netns, target, hook, program)."""
        self.bpf_links.extend(links)
        self.save()

    def forget_bpf_links(self, links: list[dict[str, str]]) -> None:
        self.bpf_links = [link for link in self.bpf_links if link not in links]
        self.save()

    def record_mount(self, path: str) -> None:
        self.mounts.append(path)
        self.save()

    def remove(self) -> None:
        for name in self.files:
            if name.endswith("/"):
                shutil.rmtree(name, ignore_errors=True)
            else:
                Path(name).unlink(missing_ok=True)
        if self.state_dir.exists() and not any(self.state_dir.iterdir()):
            self.state_dir.rmdir()
        self.path.unlink(missing_ok=True)
