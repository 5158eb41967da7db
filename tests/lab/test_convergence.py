"""`scenario convergence`, small: endpoint changes written to a real etcd reach traffic,
each stage is timed, and a disk slowed by the blkio throttle slows etcd's commit."""

from __future__ import annotations

import json

import pytest

from tests.lab.conftest import run_cli

pytestmark = pytest.mark.lab


def test_convergence_small_run_times_every_stage(tmp_path) -> None:
    out = run_cli(
        "scenario", "convergence", "--proxy", "iptables", "--placements", "tmpfs,slow",
        "--changes", "3", "--services", "10", "--disk-dir", str(tmp_path),
        "--slow-write-iops", "50", "-o", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = {r["placement"]: r for r in json.loads(out.stdout)["rows"]}
    for row in rows.values():
        assert len(row["samples_ms"]["traffic"]) == 3
        assert all(0 < ms < 20000 for ms in row["samples_ms"]["traffic"])
        assert row["stages_ms"]["commit"]["p50"] > 0
    # 50 write IOPS: every fdatasync waits for the throttle; etcd's commit does too.
    assert rows["slow"]["fdatasync_us"]["p99"] > 10 * rows["tmpfs"]["fdatasync_us"]["p99"]
    assert (
        rows["slow"]["stages_ms"]["commit"]["p50"] > 5 * rows["tmpfs"]["stages_ms"]["commit"]["p50"]
    )
