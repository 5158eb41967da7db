"""`kubenetlab etcd disk`: the fio job the etcd docs (and the article) use, measured.

Sequential writes of `bs` bytes (2300: about an etcd WAL entry), each followed by
fdatasync, as `fio --rw=write --ioengine=sync --fdatasync=1 --bs=2300`. Reported: the
fdatasync latency percentiles, IOPS, and a verdict against the thresholds people use.

Engines: `fio` (its JSON `sync.lat_ns` percentiles, the same numbers its text output
prints) and `builtin` (os.write + os.fdatasync timed with a nanosecond clock, pooled in
an HDR histogram) for machines without fio. Both leave nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.bench.stats import histogram_of, latency_summary_us
from kubenetlab.environment import environment
from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError

# Whose thresholds, in ms of fdatasync p99 (the rule is always "below").
THRESHOLDS = (
    (10.0, "etcd's guidance: wal_fsync_duration_seconds p99 below 10 ms (the article's rule)"),
    (20.0, "Red Hat's etcd-perf check: p99 fsync below 20 ms"),
)
MIN_IOPS = ((50, "etcd's guidance: at least 50 sequential IOPS"), (500, "for heavy clusters"))
MEMORY_FILESYSTEMS = {0x01021994: "tmpfs", 0x858458F6: "ramfs"}
SIZE = re.compile(r"^(\d+)([kmg]?)$", re.I)


# Below 100 observations the 99th percentile is just the slowest write.
MIN_WRITES = 100


def parse_size(text: str) -> int:
    m = SIZE.match(text.strip())
    if not m:
        raise UsageError(f"size {text!r} must be a number with k, m or g (e.g. 22m)")
    n = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    if not 4096 <= n <= 10 * 1024**3:
        raise UsageError(f"size {text} must be between 4k and 10g")
    return n


@dataclass
class DiskResult:
    engine: str  # the tool that produced the figures
    directory: str
    filesystem: str
    size: int
    bs: int
    writes: int
    seconds: float
    latency_us: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    @property
    def iops(self) -> float:
        return self.writes / self.seconds if self.seconds else 0.0

    def verdicts(self) -> list[dict[str, Any]]:
        p99_ms = self.latency_us["p99"] / 1000
        out: list[dict[str, Any]] = [
            {"check": f"fdatasync p99 < {t:g} ms", "whose": w, "passed": p99_ms < t}
            for t, w in THRESHOLDS
        ]
        out += [{"check": f"IOPS ≥ {n}", "whose": w, "passed": self.iops >= n} for n, w in MIN_IOPS]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "kind": "etcd-disk",
            "engine": self.engine,
            "directory": self.directory,
            "filesystem": self.filesystem,
            "size_bytes": self.size,
            "bs": self.bs,
            "writes": self.writes,
            "seconds": round(self.seconds, 3),
            "iops": round(self.iops, 1),
            "fdatasync_us": self.latency_us,
            "verdicts": self.verdicts(),
            "warnings": self.warnings,
            "environment": environment(),
        }


def check_directory(directory: str) -> tuple[str, list[str]]:
    """(file system type, warnings); exit 2 when the directory cannot take the test."""
    path = Path(directory)
    if not path.is_dir():
        raise UsageError(f"--dir {directory}: no such directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"--dir {directory}: not writable by this user")
    fs = _filesystem(path)
    warnings = []
    if fs in MEMORY_FILESYSTEMS.values():
        warnings.append(
            f"{directory} is on {fs}, in memory: fdatasync returns at once, so the figures "
            "say nothing about a disk; point --dir at etcd's real data directory"
        )
    return fs, warnings


def _filesystem(path: Path) -> str:
    """The type of the file system holding `path`, from /proc/self/mountinfo."""
    best, fstype = "", "unknown"
    real = str(path.resolve())
    with open("/proc/self/mountinfo") as info:
        for line in info:
            pre, _, post = line.partition(" - ")
            mount = pre.split()[4]
            inside = real == mount or real.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, fstype = mount, post.split()[0]
    return fstype


def _cannot_create(directory: str, exc: OSError) -> str:
    """/proc and /sys pass as writable directories and refuse every new file."""
    return (f"--dir {directory}: cannot create a test file there ({exc.strerror}): "
            "give a directory on the disk etcd would use")  # fmt: skip


def run_builtin(directory: str, size: int, bs: int) -> tuple[int, float, dict[str, float]]:
    block = os.urandom(bs)
    samples: list[int] = []
    try:
        fd, name = tempfile.mkstemp(prefix="knl-etcd-disk-", dir=directory)
    except OSError as exc:
        raise UsageError(_cannot_create(directory, exc)) from None
    started = time.perf_counter()
    try:
        # As fio (--fallocate=native) and etcd's WAL (64 MB segments) do: the file's blocks
        # are reserved first, so each fdatasync writes data, not a growing file's metadata.
        os.posix_fallocate(fd, 0, size)
        for _ in range(max(1, size // bs)):
            os.write(fd, block)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            samples.append(time.perf_counter_ns() - t0)
    except OSError as exc:
        raise UsageError(f"--dir {directory}: write failed: {exc.strerror}") from None
    finally:
        os.close(fd)
        os.unlink(name)
    seconds = time.perf_counter() - started
    return len(samples), seconds, latency_summary_us(histogram_of(samples))


def run_fio(directory: str, size: int, bs: int) -> tuple[int, float, dict[str, float], str]:
    if shutil.which("fio") is None:
        raise EnvironmentProblem("`fio` is not installed: apt-get install -y fio")
    try:
        name = Path(tempfile.mkdtemp(prefix="knl-etcd-disk-", dir=directory))
    except OSError as exc:
        raise UsageError(_cannot_create(directory, exc)) from None
    try:
        out = subprocess.run(
            ["fio", "--rw=write", "--ioengine=sync", "--fdatasync=1", f"--size={size}",
             f"--bs={bs}", "--name=etcd_bench", f"--filename={name / 'etcd_bench'}",
             "--output-format=json"],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
    finally:
        shutil.rmtree(name, ignore_errors=True)
    if out.returncode != 0:
        raise KnlError(f"fio failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    writes, seconds, latency = parse_fio(out.stdout)
    return writes, seconds, latency, json.loads(out.stdout).get("fio version", "fio")


def parse_fio(text: str) -> tuple[int, float, dict[str, float]]:
    """fio's JSON: (fdatasyncs, seconds, fdatasync latency in µs like latency_summary_us)."""
    job = json.loads(text[text.index("{") :])["jobs"][0]
    lat = job["sync"]["lat_ns"]
    # fio reports a percentile as its histogram bin's upper edge: never above the maximum.
    pct = {float(k): min(v, lat["max"]) / 1000 for k, v in lat["percentile"].items()}
    latency = {
        "min": lat["min"] / 1000,
        "p50": pct[50.0],
        "p90": pct[90.0],
        "p99": pct[99.0],
        "p99.9": pct[99.9],
        "max": lat["max"] / 1000,
        "mean": lat["mean"] / 1000,
        "observations": int(lat["N"]),
    }
    # Every write is followed by one fdatasync: the sync latency count is the write count.
    return int(lat["N"]), job["job_runtime"] / 1000, latency


def measure(directory: str, size: int, bs: int, engine: str) -> DiskResult:
    if not 512 <= bs <= 1024**2:
        raise UsageError(f"--bs must be 512-1048576 bytes, not {bs}")
    if size // bs < MIN_WRITES:
        raise UsageError(
            f"--size {size} with --bs {bs} is {size // bs} write(s): a p99 needs at least "
            f"{MIN_WRITES} (use --size of at least {MIN_WRITES * bs} bytes, or a smaller --bs)"
        )
    fs, warnings = check_directory(directory)
    if engine == "fio":
        writes, seconds, latency, version = run_fio(directory, size, bs)
        tool = f"{version} (--output-format=json, sync.lat_ns)"
    else:
        writes, seconds, latency = run_builtin(directory, size, bs)
        tool = "kubenetlab builtin (os.write + os.fdatasync, HDR histogram)"
    return DiskResult(tool, directory, fs, size, bs, writes, seconds, latency, warnings)
