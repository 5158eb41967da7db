"""`kubenetlab scenario convergence`: how long after an endpoint change traffic follows,
and what etcd's disk does to it — the article's "if your 99th percentile fdatasync is
over 10ms, your network updates will lag", measured end to end.

Per proxy × etcd data-dir placement: a 2-node lab with `control_plane: etcd` and N extra
Services in the store; K times, the `probe` Service's one endpoint is moved between
node2-pod1 and node2-pod2 by writing its EndpointSlice to etcd. Each change is timed
from just before the write: etcd's commit (the put returns: raft + WAL fdatasync), the
watch event's arrival at node1's agent, node1's proxy programmed, and the first reply
from the new backend to a client in node1-pod1 that keeps opening connections.

Placements: `tmpfs` (the lab's state dir on /run), `disk` (a directory on a real disk),
`slow` (the same disk with etcd's writes throttled by the cgroup v1 blkio controller,
`blkio.throttle.write_iops_device`, in a cgroup the lab owns, which a neighbour doing
back-to-back fdatasync shares: a throttle alone is a rate limit that sparse commits fit
under, a saturated one is a slow disk, as a busy shared volume is). Each placement's
fdatasync p50/p99 is measured with `etcd disk`'s builtin engine in the same place and
cgroup, while the neighbour runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.bench.stats import histogram_of, latency_summary_us
from kubenetlab.components.agents import read_status, wait_applied
from kubenetlab.components.backends import start_backends_for
from kubenetlab.components.etcd import CLIENT_URL
from kubenetlab.errors import UsageError
from kubenetlab.inputs import csv_list
from kubenetlab.kernel import cgroups, netns, preflight, procs
from kubenetlab.live import LiveLab, running
from kubenetlab.proxy import PROXIES
from kubenetlab.proxy.synthetic import synthetic_services
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.services import Endpoint
from kubenetlab.spec import build_lab
from kubenetlab.store import Etcd, write_endpoints, write_services

PLACEMENTS = ("tmpfs", "disk", "slow")
# The neighbour on the slow disk: one small write + fdatasync after another, in place.
NEIGHBOUR = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
while True:
    os.pwrite(fd, b"n" * 4096, 0); os.fdatasync(fd)
"""
STAGES = ("commit", "delivered", "programmed", "traffic")
TARGETS = ("node2-pod1", "node2-pod2")

# The client: connect to the ClusterIP until the new backend answers; print that moment.
PROBE = """
import socket, sys, time
host, want, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
print("ready", flush=True)
while time.time() < deadline:
    try:
        s = socket.create_connection((host, 80), timeout=0.5); s.sendall(b"?")
        who = s.recv(200).split()[0].decode(); s.close()
    except OSError:
        continue
    if who == want:
        print(time.time(), flush=True); sys.exit(0)
sys.exit(1)
"""


@dataclass(frozen=True)
class ConvergenceSettings:
    proxies: tuple[str, ...] = ("iptables", "nftables", "ebpf")
    placements: tuple[str, ...] = PLACEMENTS
    changes: int = 20
    services: int = 100
    disk_dir: str = "/var/tmp"
    slow_write_iops: int = 200

    def __post_init__(self) -> None:
        for name in self.proxies:
            if name not in PROXIES:
                raise UsageError(f"unknown service proxy {name!r} (known: {', '.join(PROXIES)})")
        bad = [p for p in self.placements if p not in PLACEMENTS]
        if bad or not self.placements:
            raise UsageError(f"placements must be among {', '.join(PLACEMENTS)}")
        if not 1 <= self.changes <= 1000 or not 0 <= self.services <= 10000:
            raise UsageError("changes must be 1-1000 and services 0-10000")
        if not Path(self.disk_dir).is_dir():
            raise UsageError(f"--disk-dir {self.disk_dir}: not a directory")
        if not 1 <= self.slow_write_iops <= 100000:
            raise UsageError("--slow-write-iops must be 1-100000")


@dataclass
class Row:
    proxy: str
    placement: str
    fsync_us: dict[str, float]
    stages_ms: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage, values in self.stages_ms.items():
            q = latency_summary_us(histogram_of(round(ms * 1e6) for ms in values))
            out[stage] = {k: round(q[k] / 1000, 3) for k in ("p50", "p99")}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "placement": self.placement,
                "fdatasync_us": self.fsync_us, "stages_ms": self.summary(),
                "samples_ms": self.stages_ms}  # fmt: skip


@dataclass
class ConvergenceReport(ScenarioReport):
    settings: ConvergenceSettings
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    file_stem = "convergence"

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "schema_version": 1,
            "settings": {"proxies": list(s.proxies), "placements": list(s.placements),
                         "changes": s.changes, "services": s.services, "disk_dir": s.disk_dir,
                         "slow_write_iops": s.slow_write_iops},
            "rows": [r.to_dict() for r in self.rows],
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def _lab_spec(proxy: str, placement: str, settings: ConvergenceSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": run_lab_name("conv"), "profile": "native", "nodes": 2, "pods_per_node": 2, "proxy": proxy,
        "control_plane": "etcd",
        "services": [{"name": "probe", "port": 80, "target_port": 8080, "pods": [TARGETS[0]]}],
    }  # fmt: skip
    if placement != "tmpfs":
        spec["etcd_data_dir"] = settings.disk_dir
    return spec


def _throttle(live: LiveLab, data_dir: str, iops: int) -> Path:
    """A blkio cgroup the lab owns, throttling writes to the data dir's disk; etcd in it."""
    etcd = [p.pid for p in live.ledger.processes if p.role == "etcd" and p.pid]
    group = cgroups.blkio_throttled(
        f"knl-{live.name}-etcd-io", data_dir, iops, etcd, live.ledger.record_cgroup
    )
    scratch = Path(data_dir).parent / f"knl-{live.name}-neighbour"
    live.ledger.record_file(str(scratch))
    procs.spawn(live.ledger, live.lab.control_netns or "", [sys.executable, "-c", NEIGHBOUR,
                str(scratch)], role="disk-neighbour", cgroup=group / "cgroup.procs")  # fmt: skip
    return group


def _fsync(directory: str, group: Path | None) -> dict[str, float]:
    """fdatasync latency where etcd writes (in etcd's blkio cgroup for `slow`)."""

    def join() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "etcd", "disk", "--dir", directory,
         "--size", "230k", "--engine", "builtin", "-o", "json"],
        capture_output=True, text=True, preexec_fn=join, timeout=600,
    )  # fmt: skip
    if out.returncode != 0:
        raise UsageError(f"etcd disk on {directory}: {out.stderr.strip()}")
    return dict(json.loads(out.stdout)["fdatasync_us"])


def _one_change(live: LiveLab, store: Etcd, target: str) -> dict[str, float]:
    lab = live.lab
    pod = next(p for p in lab.pods if p.name == target)
    svc = lab.service("probe")
    moved = dataclasses.replace(svc, endpoints=(Endpoint(str(pod.ip), pod.node, pod=target),))
    probe = procs.spawn(
        live.ledger, live.member("node1-pod1").netns,
        [sys.executable, "-c", PROBE, svc.cluster_ip, target, "20"], role="probe",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert probe.stdout is not None
    probe.stdout.readline()  # "ready": it is connecting already
    t0 = time.time()
    with netns.inside(lab.control_netns or ""):
        revision = write_endpoints(store, moved)
    t_commit = time.time()
    first = float(probe.stdout.readline() or "nan")
    probe.wait(timeout=30)
    live.ledger.forget_processes(lambda p: p.pid == probe.pid)
    status = read_status(live.ledger, "node1")
    while status.get("applied_revision", 0) < revision:
        time.sleep(0.005)
        status = read_status(live.ledger, "node1")
    services = tuple(moved if s.key == svc.key else s for s in lab.services)
    live.lab = dataclasses.replace(lab, services=services)
    return {
        "commit": (t_commit - t0) * 1e3,
        "delivered": (status.get("received_at", t0) - t0) * 1e3,
        "programmed": (status.get("applied_at", t0) - t0) * 1e3,
        "traffic": (first - t0) * 1e3,
    }


def _row(proxy: str, placement: str, settings: ConvergenceSettings, on_step: Any) -> Row:
    with running(build_lab(_lab_spec(proxy, placement, settings))) as live:
        data_dir = live.ledger.extra["etcd_data_dir"]
        group = _throttle(live, data_dir, settings.slow_write_iops) if placement == "slow" else None
        row = Row(proxy, placement, _fsync(str(Path(data_dir).parent), group))
        store = Etcd(CLIENT_URL)
        pods = {p.name: p for p in live.lab.pods}
        eps = [Endpoint(str(pods[n].ip), pods[n].node, pod=n) for n in TARGETS]
        with netns.inside(live.lab.control_netns or ""):
            extra = synthetic_services(settings.services, eps, live.lab.service_cidr, first=100)
            revision = write_services(store, extra)
        # Every agent works through those writes first, so no change queues behind them.
        wait_applied(live.ledger, [n.name for n in live.lab.nodes], revision, seconds=600)
        start_backends_for(live.lab, live.ledger, {n: [8080] for n in TARGETS})
        for k in range(settings.changes):
            timings = _one_change(live, store, TARGETS[(k + 1) % 2])
            for stage, ms in timings.items():
                row.stages_ms.setdefault(stage, []).append(round(ms, 3))
            if on_step:
                on_step(f"{proxy} / {placement}: change {k + 1}")
        return row


def run(
    settings: ConvergenceSettings, on_step: Callable[[str], None] | None = None
) -> ConvergenceReport:
    preflight.require_root("scenario convergence")
    started = time.monotonic()
    report = ConvergenceReport(settings)
    for placement in settings.placements:
        for proxy in settings.proxies:
            report.rows.append(_row(proxy, placement, settings, on_step))
    report.seconds = time.monotonic() - started
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proxy", default="iptables,nftables,ebpf", help="service proxies")
    parser.add_argument(
        "--placements", default=",".join(PLACEMENTS), help="etcd data dir: tmpfs, disk, slow"
    )
    parser.add_argument("--changes", type=int, default=20, help="endpoint changes per row")
    parser.add_argument("--services", type=int, default=100, help="extra Services in etcd")
    parser.add_argument("--disk-dir", default="/var/tmp", help="a directory on a real disk")
    parser.add_argument(
        "--slow-write-iops", type=int, default=200, help="blkio write IOPS limit for `slow`"
    )


def settings_from(args: argparse.Namespace) -> ConvergenceSettings:
    return ConvergenceSettings(
        csv_list(args.proxy, "proxies"), csv_list(args.placements, "placements"),
        args.changes, args.services, args.disk_dir, args.slow_write_iops,
    )  # fmt: skip


def steps(settings: ConvergenceSettings) -> int:
    return len(settings.proxies) * len(settings.placements) * settings.changes


SCENARIO = Scenario(
    "convergence",
    "endpoint change → traffic follows, through a real etcd, per disk placement",
    arguments,
    settings_from,
    steps,
    run,
    "example:\n  kubenetlab scenario convergence --proxy iptables,ebpf --placements tmpfs,slow",
)
