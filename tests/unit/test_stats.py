"""Confidence intervals from order statistics, HDR percentiles, CPU accounting."""

from __future__ import annotations

import math
import random

import pytest

from kubenetlab.bench.cpu import CpuUsage
from kubenetlab.bench.stats import histogram_of, latency_summary_us, median_ci


def test_five_runs_give_min_max_at_93_75_percent() -> None:
    e = median_ci([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (e.median, e.ci_low, e.ci_high) == (3.0, 1.0, 5.0)
    assert e.ci_level == pytest.approx(1 - 2 / 32)
    assert e.cv == pytest.approx(math.sqrt(2.5) / 3)


def test_ten_runs_drop_one_from_each_end() -> None:
    e = median_ci(list(range(1, 11)))
    assert (e.ci_low, e.ci_high) == (2, 9)
    assert e.ci_level == pytest.approx(1 - 2 * 11 / 1024)


def test_coverage_of_the_interval_is_what_it_claims() -> None:
    rng = random.Random(7)
    hits = 0
    trials = 4000
    for _ in range(trials):
        runs = [rng.expovariate(1.0) for _ in range(10)]  # true median ln 2
        e = median_ci(runs)
        hits += e.ci_low <= math.log(2) <= e.ci_high
    assert abs(hits / trials - e.ci_level) < 0.02


def test_single_run_has_no_interval() -> None:
    e = median_ci([4.2])
    assert (e.median, e.ci_low, e.ci_high, e.ci_level, e.cv) == (4.2, 4.2, 4.2, 0.0, None)


def test_hdr_summary_orders_and_scales() -> None:
    rng = random.Random(1)
    samples = [int(rng.lognormvariate(11, 0.5)) for _ in range(20000)]  # ~60 µs in ns
    s = latency_summary_us(histogram_of(samples))
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["p99.9"] <= s["max"]
    exact = sorted(samples)
    assert s["p99"] == pytest.approx(exact[int(0.99 * len(exact)) - 1] / 1000, rel=2e-3)
    assert s["observations"] == 20000


def test_cpu_of_the_measurement_is_its_processes_plus_softirq_or_none_with_a_reason() -> None:
    measured = CpuUsage(0.25, 0.5, 1.5, steal_percent=0, seconds=1)
    assert measured.net_s == 0.75 and measured.to_dict()["net_s"] == 0.75
    unknown = CpuUsage(None, 0.5, 1.5, steal_percent=0, seconds=1, reason="no cgroup")
    assert unknown.net_s is None and unknown.to_dict()["reason"] == "no cgroup"


def test_mean_value_is_hdrh_own_mean_without_its_iterator() -> None:
    import random

    from kubenetlab.bench.stats import histogram_of, mean_value

    rng = random.Random(7)
    for n in (1, 7, 300, 20000):
        hist = histogram_of(int(rng.lognormvariate(11, 2)) for _ in range(n))
        assert mean_value(hist) == hist.get_mean_value()
