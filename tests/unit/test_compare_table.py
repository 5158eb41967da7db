"""The compare table people read: at 80 and 120 columns nothing is cut ("…"), the default
fits 120 columns, -o wide shows whole CIs, one run shows no interval, and the driver
check says its difference with the sign and what it means."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kubenetlab.bench.result import BenchResult
from kubenetlab.bench.stats import Estimate
from kubenetlab.report import compare_report
from kubenetlab.scenarios.compare import CompareReport, CompareSettings, Row

TESTS = ("rr", "crr", "stream")


def _result(test: str, base: float, n: int) -> BenchResult:
    def est(x: float) -> Estimate:
        return Estimate(x, x * 0.97 if n > 1 else x, x * 1.05 if n > 1 else x, 0.94, 0.02, n)

    metrics = {"gbps": est(base)} if test == "stream" else {
        "p50": est(base), "p99": est(base * 2.1), "cpu_us_per_txn": est(base * 1.2),
    }  # fmt: skip
    return BenchResult(test, "sockperf 3.7", False, "lab", "p", "a", "b", "10.0.0.1",
                       "pod → pod, other node", 1, 2.0, [], estimates=metrics)  # fmt: skip


def _report(n: int) -> CompareReport:
    rows = []
    for i, name in enumerate(("underlay", "native", "flannel", "calico-ipip", "cilium")):
        row = Row(name, f"{name} model", lab=f"cmp-{name}")
        row.results = {
            "rr": _result("rr", 22.5 + 7 * i, n),
            "crr": _result("crr", 181.0 + 20 * i, n),
            "stream": _result("stream", 30.1 - i, n),
        }
        if i:
            row.results["crr_service"] = _result("crr", 300.0 + i, n)
            row.results["rr_nodeport"] = _result("rr", 55.0 + i, n)
            row.overhead_percent = {
                "rr.p50": 31.0 * i,
                "crr_service.p50": -4.0,
                "stream.gbps": -3.0,
            }
        rows.append(row)
    check = {"path": "node → node", "builtin_tool": "knl-rr", "reference_tool": "sockperf",
             "builtin_rr_p50_us": 21.7, "reference_rr_p50_us": 22.5,
             "builtin_overhead_p50_us": -0.8}  # fmt: skip
    settings = CompareSettings(profiles=("native",), tests=TESTS, repeats=max(n, 1))
    return CompareReport(settings, rows, check, 42.0)


def _printed(report: CompareReport, width: int, wide: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.StringIO()
    console = Console(width=width, file=out, soft_wrap=True, color_system=None)
    monkeypatch.setattr(compare_report, "stdout", console)
    compare_report.print_compare(report, wide)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_nothing_is_cut_at_80_and_120_columns(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(_report(5), width, False, monkeypatch)
    table = text.split("\n")[2:]
    assert "…" not in text
    assert "±" in text and "[" not in "".join(table[:8])
    if width == 120:  # the default tables fit 120 columns: one line per profile
        rows = [line for line in table if line.startswith(("underlay ", "cilium "))]
        assert len(rows) == 3 and all(len(line.rstrip()) <= 120 for line in rows), rows
        assert "through the service proxy:" in text


def test_wide_has_the_whole_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(_report(5), 250, True, monkeypatch)
    assert "22.5 [21.8–23.6]" in text and "RR client→NodePort p50 µs" in text


def test_one_run_shows_no_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(_report(1), 200, False, monkeypatch)
    assert "±" not in text and "0.0 %" not in text and "no confidence interval" in text
    wide = _printed(_report(1), 250, True, monkeypatch)
    assert "[" not in wide.split("\n", 3)[3].split("underlay:")[0]


@pytest.mark.parametrize(
    ("diff", "says"),
    [(-0.8, "within 1 µs of each other"), (6.2, "costs +6.2 µs per transaction more"),
     (-2.4, "2.4 µs per transaction faster (-2.4 µs)")],
)  # fmt: skip
def test_the_driver_check_says_its_sign_and_meaning(diff: float, says: str) -> None:
    line = compare_report.driver_check_line(
        {
            "path": "node → node",
            "builtin_tool": "knl-rr",
            "reference_tool": "sockperf",
            "builtin_rr_p50_us": 22.5 + diff,
            "reference_rr_p50_us": 22.5,
            "builtin_overhead_p50_us": diff,
        }
    )
    assert says in line and "≈ −" not in line and "−0" not in line
