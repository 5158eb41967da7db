"""Statistics: HDR-histogram percentiles, and medians of repeats with a confidence interval.

Latencies are recorded in nanoseconds into HdrHistogram (3 significant digits, as
wrk2 and HdrHistogram's own defaults), so percentiles pooled across repeats are
exact to 0.1 %. Across repeats we report the median with a distribution-free
confidence interval from order statistics (no normality assumed, as fits a handful
of noisy runs), and its exact coverage: with 5 runs the best such interval is
[min, max] at 93.75 %.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}
MAX_TRACKABLE_NS = 60_000_000_000  # 60 s


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_TRACKABLE_NS, 3)


def histogram_of(samples_ns: Iterable[int]) -> HdrHistogram:
    hist = new_histogram()
    for value in samples_ns:
        hist.record_value(max(1, min(int(value), MAX_TRACKABLE_NS)))
    return hist


def mean_value(hist: HdrHistogram) -> float:
    """HdrHistogram.get_mean_value's figure (each bucket's count at its median equivalent
    value), summed over the count array instead of hdrh's iterator: the same float, 5-50×
    faster (the iterator walks every value up to the largest: 0.4 s per trace hop)."""
    total = 0
    counts = hist.counts
    for index in range(hist.counts_len):
        if count := counts[index]:
            value = hist.get_value_from_index(index)
            low = hist.get_lowest_equivalent_value(value)
            size = hist.get_highest_equivalent_value(value) - low + 1
            total += count * (low + (size >> 1))
    return float(total) / hist.get_total_count()


def latency_summary_us(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/min/mean in microseconds, and the observation count."""
    if hist.get_total_count() == 0:
        return {"observations": 0}
    out = {name: hist.get_value_at_percentile(p) / 1000.0 for name, p in PERCENTILES.items()}
    out["max"] = hist.get_max_value() / 1000.0
    out["min"] = hist.get_min_value() / 1000.0
    out["mean"] = mean_value(hist) / 1000.0
    out["observations"] = hist.get_total_count()
    return out


@dataclass(frozen=True)
class Estimate:
    """The median of per-run values, its confidence interval and the runs' spread."""

    median: float
    ci_low: float
    ci_high: float
    ci_level: float  # exact coverage of [ci_low, ci_high], e.g. 0.9375 for 5 runs
    cv: float | None  # coefficient of variation (stdev / mean) of the runs
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "median": self.median,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_level": round(self.ci_level, 4),
            "cv": self.cv,
            "n": self.n,
        }


def _binom_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Median with the narrowest order-statistic interval whose coverage reaches `level`,
    or [min, max] (the widest there is) when too few runs can reach it."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    med = statistics.median(xs)
    cv = statistics.stdev(xs) / statistics.mean(xs) if n > 1 and statistics.mean(xs) else None
    if n == 1:
        return Estimate(med, xs[0], xs[0], 0.0, cv, n)
    # Interval [x(k), x(n-k+1)] (1-based) covers the median with 1 - 2·P(X <= k-1).
    best_k, coverage = 1, 1 - 2 * _binom_cdf(0, n)
    for k in range(2, n // 2 + 1):
        c = 1 - 2 * _binom_cdf(k - 1, n)
        if c < level:
            break
        best_k, coverage = k, c
    return Estimate(med, xs[best_k - 1], xs[n - best_k], coverage, cv, n)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (good near 0 and 1, unlike Wald)."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
