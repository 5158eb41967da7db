"""`--ci-width PCT`: repeat until the confidence interval is narrow enough, netperf's
`-i max,min -I level,width` for kubenetlab's order-statistic intervals.

A fixed repeat count cannot promise a width on a noisy host (TCP_RR p50's CV was 0.8 %
on one path and 7.7 % on another in the same run). With a target, runs continue — for
compare, interleaved round by round — until every row's headline figure (p50 for
request/response tests, Gbit/s for streams) has a CI half-width within PCT % of its
median, or `--max-repeats` runs are spent; the rows that missed are named.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from kubenetlab.bench.result import LATENCY_TESTS, BenchResult
from kubenetlab.bench.stats import Estimate
from kubenetlab.errors import UsageError

DEFAULT_MAX_REPEATS = 20
# A width counts once its interval covers the median with at least this probability: five
# runs ([min, max], 93.75 %). Two equal runs give a zero-width interval that covers the
# median only half the time — not a result to stop on.
MIN_LEVEL = 0.9
MIN_RUNS = 5


def headline(test: str) -> str:
    """The metric a width target applies to."""
    return "p50" if test in LATENCY_TESTS else "gbps"


def half_width_percent(e: Estimate) -> float | None:
    """The CI's larger side as a percentage of the median; None with one run or a 0 median."""
    if e.n < 2 or not e.median:
        return None
    return 100 * max(e.median - e.ci_low, e.ci_high - e.median) / abs(e.median)


@dataclass(frozen=True)
class Target:
    width_percent: float
    max_repeats: int = DEFAULT_MAX_REPEATS

    def __post_init__(self) -> None:
        if not 0.1 <= self.width_percent <= 100:
            raise UsageError(f"--ci-width must be 0.1-100 (%), not {self.width_percent:g}")
        if not MIN_RUNS <= self.max_repeats <= 100:
            raise UsageError(
                f"--max-repeats must be {MIN_RUNS}-100, not {self.max_repeats} (a width is "
                f"judged once its interval covers the median with ≥ {100 * MIN_LEVEL:.0f} %: "
                f"{MIN_RUNS} runs)"
            )

    def check(self, repeats: int) -> None:
        if repeats > self.max_repeats:
            raise UsageError(
                f"--repeats {repeats} is more than --max-repeats {self.max_repeats}: "
                "--repeats is the least number of runs with --ci-width"
            )

    def met(self, result: BenchResult) -> bool:
        estimate = result.estimates[headline(result.test)]
        width = half_width_percent(estimate)
        sure = estimate.ci_level >= MIN_LEVEL
        return sure and width is not None and width <= self.width_percent


def add_arguments(parser: argparse.ArgumentParser, repeats_help: str, width_help: str) -> None:
    """--repeats, --ci-width and --max-repeats, as bench and compare both take them."""
    parser.add_argument(
        "--repeats", type=int, default=5,
        help=f"{repeats_help} (with --ci-width: the least number of runs)",
    )  # fmt: skip
    parser.add_argument(
        "--ci-width", type=float, metavar="PCT",
        help=f"repeat until {width_help} is within PCT %% of its median (netperf's "
        "-I level,width), up to --max-repeats runs; what misses is named",
    )  # fmt: skip
    parser.add_argument(
        "--max-repeats", type=int, default=DEFAULT_MAX_REPEATS,
        help="with --ci-width: the most runs (default %(default)s)",
    )  # fmt: skip


def target_of(args: argparse.Namespace, repeats: int) -> Target | None:
    """The width target the flags ask for (checked against --repeats), or None."""
    if not args.ci_width:
        return None
    target = Target(args.ci_width, args.max_repeats)
    target.check(repeats)
    return target


def outcome(target: Target, results: dict[str, BenchResult], runs: int) -> dict[str, object]:
    """What -o json records: the target, the runs it took, each row's achieved width."""
    rows = []
    for key, result in results.items():
        metric = headline(result.test)
        width = half_width_percent(result.estimates[metric])
        rows.append(
            {"row": key, "test": result.test, "metric": metric,
             "achieved_percent": None if width is None else round(width, 2),
             "met": target.met(result)}
        )  # fmt: skip
    return {
        "ci_width_percent": target.width_percent,
        "max_repeats": target.max_repeats,
        "runs": runs,
        "rows": rows,
        "missed": [r["row"] for r in rows if not r["met"]],
    }


def summary_line(doc: dict[str, object]) -> str:
    """One line under a table: met after N runs, or which rows missed and by how much."""
    width, runs = doc["ci_width_percent"], doc["runs"]
    rows = doc["rows"]
    assert isinstance(rows, list)
    missed = [r for r in rows if not r["met"]]
    if not missed:
        return f"precision: every figure's CI within ±{width:g}% of its median after {runs} runs"
    named = ", ".join(
        f"{r['row']} ±{r['achieved_percent']:g}%" if r["achieved_percent"] is not None
        else f"{r['row']} (no interval)"
        for r in missed
    )  # fmt: skip
    return (
        f"precision: {len(missed)} of {len(rows)} figures missed ±{width:g}% after "
        f"{runs} runs (--max-repeats): {named}"
    )
