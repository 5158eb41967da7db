"""How each scenario's result is shown: a table on stdout, CSV, PNG charts, and the
`--report DIR` files — looked up by the result's kind. Scenarios return documents and
never import this package; the command line joins the two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenetlab.report import (
    canary_report,
    churn_report,
    compare_report,
    convergence_report,
    etp_report,
    mtu_report,
    plot,
    scale_report,
)
from kubenetlab.scenarios.base import ScenarioReport


@dataclass(frozen=True)
class View:
    table: Callable[[Any, bool], None]  # (result, wide)
    csv: Callable[[Any], str]
    charts: Callable[[Any, Path], list[Path]] = lambda result, directory: []


VIEWS: dict[str, View] = {
    "canary": View(lambda r, wide: canary_report.print_canary(r), canary_report.csv_text),
    "churn": View(churn_report.print_churn, churn_report.csv_text),
    "compare": View(compare_report.print_compare, compare_report.csv_text, plot.compare_charts),
    "convergence": View(
        lambda r, wide: convergence_report.print_convergence(r), convergence_report.csv_text
    ),
    "etp": View(lambda r, wide: etp_report.print_etp(r), etp_report.csv_text),
    "mtu": View(
        lambda r, wide: mtu_report.print_mtu_scenario(r),
        mtu_report.csv_text,
        lambda r, directory: [mtu_report.write_chart(r, directory)],
    ),
    "service-scale": View(
        lambda r, wide: scale_report.print_scale(r),
        scale_report.csv_text,
        lambda r, directory: [scale_report.write_chart(r, directory)],
    ),
}


def view(result: ScenarioReport) -> View:
    return VIEWS[result.file_stem]


def write(result: ScenarioReport, directory: str | Path) -> list[Path]:
    """`--report DIR`: the JSON, the CSV and the charts, the directory made if missing."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{result.file_stem}.json", out / f"{result.file_stem}.csv"]
    written[0].write_text(result.to_json())
    written[1].write_text(view(result).csv(result))
    return written + view(result).charts(result, out)
