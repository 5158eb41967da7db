"""`kubenetlab etcd disk`: fio's JSON read right, the builtin engine measured right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubenetlab.bench.etcd_disk import measure, parse_fio, parse_size, run_builtin
from kubenetlab.errors import UsageError

FIO_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "tools" / "fio-3.33-etcd-job.json"


def _ordered(lat: dict[str, float]) -> None:
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]


def test_fio_json_of_the_installed_fio_gives_its_sync_percentiles() -> None:
    # Captured from fio 3.33: --rw=write --ioengine=sync --fdatasync=1 --bs=2300 --size=2m.
    writes, seconds, lat = parse_fio(FIO_JSON.read_text())
    raw = json.loads(FIO_JSON.read_text())["jobs"][0]
    assert writes == raw["write"]["total_ios"] == 911
    assert lat["p99"] == raw["sync"]["lat_ns"]["percentile"]["99.000000"] / 1000
    assert seconds == raw["job_runtime"] / 1000
    _ordered(lat)


def test_builtin_engine_writes_size_over_bs_times_and_orders_percentiles(tmp_path: Path) -> None:
    writes, seconds, lat = run_builtin(str(tmp_path), 230_000, 2300)
    assert writes == 100 and lat["observations"] == 100 and seconds > 0
    _ordered(lat)
    assert list(tmp_path.iterdir()) == []  # its test file is gone


def test_memory_file_systems_are_flagged_and_bad_input_refused(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if shm.is_dir():
        result = measure(str(shm), 230_000, 2300, "builtin")
        assert result.filesystem == "tmpfs" and "in memory" in result.warnings[0]
    with pytest.raises(UsageError, match="no such directory"):
        measure(str(tmp_path / "nope"), 230_000, 2300, "builtin")
    # fewer writes than a p99 needs: refused before anything is written
    with pytest.raises(UsageError, match="is 0 write\\(s\\): a p99 needs at least 100"):
        measure(str(tmp_path), 100 * 1024, 1_000_000, "builtin")
    with pytest.raises(UsageError, match="is 99 write"):
        measure(str(tmp_path), 99 * 2300, 2300, "builtin")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="between 4k and 10g"):
        parse_size("1")
    assert parse_size("22m") == 22 * 1024 * 1024


def test_cli_json_has_both_engines_fields(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "etcd", "disk", "--dir", str(tmp_path),
         "--size", "230k", "--engine", "builtin", "-o", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["writes"] == 230 * 1024 // 2300 and doc["verdicts"][0]["passed"] in (True, False)
    assert set(doc["fdatasync_us"]) >= {"p50", "p90", "p99", "p99.9", "max"}
