"""--ci-width: the width a target asks for, when it is met, what is recorded and said."""

from __future__ import annotations

import pytest

from kubenetlab.bench import precision
from kubenetlab.bench.result import BenchResult
from kubenetlab.bench.stats import median_ci
from kubenetlab.errors import UsageError
from kubenetlab.scenarios.compare import CompareSettings


def _result(test: str, values: list[float]) -> BenchResult:
    metric = precision.headline(test)
    return BenchResult(test, "t", False, "lab", "p", "a", "b", "ip", "path", 1, 1.0, [],
                       estimates={metric: median_ci(values)})  # fmt: skip


def test_width_is_the_larger_side_of_the_interval() -> None:
    e = median_ci([100.0, 101.0, 99.0, 110.0, 100.5])  # 5 runs: [min, max]
    assert precision.half_width_percent(e) == pytest.approx(100 * (110 - 100.5) / 100.5)
    assert precision.half_width_percent(median_ci([5.0])) is None


def test_a_target_is_met_by_latency_p50_or_stream_gbps() -> None:
    target = precision.Target(5.0)
    assert target.met(_result("rr", [20.0, 20.5, 19.8, 20.2, 20.1]))
    assert not target.met(_result("crr", [100.0, 180.0, 120.0, 110.0, 105.0]))
    assert target.met(_result("stream", [30.0, 30.5, 29.9, 30.2, 30.1]))
    assert not target.met(_result("rr", [20.0]))  # one run: no interval to judge
    # two equal runs: a zero-width interval at 50 % coverage is not a result to stop on
    assert not target.met(_result("crr", [180.0, 180.0]))
    assert not target.met(_result("crr", [180.0] * 4))
    assert target.met(_result("crr", [180.0] * 5))


def test_outcome_and_summary_name_the_rows_that_missed() -> None:
    target = precision.Target(5.0, 9)  # both rows: 5 runs, a 93.75 % interval
    doc = precision.outcome(
        target,
        {"underlay TCP_RR": _result("rr", [20.0, 20.1, 20.2, 19.9, 20.0]),
         "vxlan TCP_CRR": _result("crr", [100.0, 150.0, 120.0, 110.0, 105.0])},
        9,
    )  # fmt: skip
    assert doc["missed"] == ["vxlan TCP_CRR"] and doc["runs"] == 9
    line = precision.summary_line(doc)
    assert line.startswith("precision: 1 of 2 figures missed ±5% after 9 runs")
    assert "vxlan TCP_CRR ±36.36%" in line
    doc["rows"][1]["met"], doc["missed"] = True, []
    assert "every figure's CI within ±5%" in precision.summary_line(doc)


@pytest.mark.parametrize(
    ("width", "most", "message"),
    [(0.0, 20, "--ci-width must be 0.1-100"), (150.0, 20, "--ci-width must be 0.1-100"),
     (5.0, 4, "--max-repeats must be 5-100"), (5.0, 101, "--max-repeats must be 5-100")],
)  # fmt: skip
def test_bad_targets_are_refused(width: float, most: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        precision.Target(width, most)


def test_repeats_are_the_least_number_of_runs() -> None:
    with pytest.raises(UsageError, match="--repeats 8 is more than --max-repeats 6"):
        CompareSettings(profiles=("native",), repeats=8, precision=precision.Target(5.0, 6))
    settings = CompareSettings(profiles=("native",), repeats=3, precision=precision.Target(5.0, 6))
    assert settings.precision is not None
