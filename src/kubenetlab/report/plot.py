"""PNG charts (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from kubenetlab.bench.stats import Estimate
from kubenetlab.scenarios.compare import CompareReport


def _bars(
    ax, labels: list[str], series: dict[str, list[Estimate | None]], unit: str, log: bool
) -> None:
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x in range(len(labels))]
        medians = [v.median if v else 0.0 for v in values]
        err_low = [v.median - v.ci_low if v else 0.0 for v in values]
        err_high = [v.ci_high - v.median if v else 0.0 for v in values]
        ax.bar(xs, medians, width, yerr=[err_low, err_high], capsize=3, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylabel(unit)
    if log:  # p50 and p99 differ by orders of magnitude on a busy host
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def compare_charts(report: CompareReport, out: Path) -> list[Path]:
    rows = [r for r in report.rows if r.results]
    labels = [r.name for r in rows]
    written: list[Path] = []

    def est(test: str, key: str) -> list[Estimate | None]:
        return [r.results[test].estimates.get(key) if test in r.results else None for r in rows]

    latency = {
        f"{t.upper()} {k}": est(t, k)
        for t in ("rr", "crr", "udp_rr")
        if t in report.settings.tests
        for k in ("p50", "p99")
    }
    charts = [
        (
            "latency.png",
            "Round-trip latency per profile (median of runs, CI bars)",
            latency,
            "µs",
            True,
        ),
        (
            "throughput.png",
            "TCP_STREAM throughput (iperf3)",
            {"Gbit/s": est("stream", "gbps")},
            "Gbit/s",
            False,
        ),
        (
            "cpu.png",
            "Host CPU per transaction, TCP_RR (net of idle)",
            {"CPU µs/txn": est("rr", "cpu_us_per_txn")},
            "µs CPU / transaction",
            False,
        ),
    ]
    for filename, title, series, unit, log in charts:
        if not any(v for values in series.values() for v in values):
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        _bars(ax, labels, series, unit, log)
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        path = out / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    traces = {r.name: r.trace for r in report.rows if r.trace}
    if traces:
        from kubenetlab.report.trace_report import write_profile_waterfalls

        written.append(write_profile_waterfalls(traces, out / "trace.png"))
    return written
