"""service-scale results: table and chart."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from kubenetlab.report.bench_table import to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.service_scale import CSV_FIGURES, ScaleReport, ScaleRow


def print_scale(report: ScaleReport) -> None:
    s = report.settings
    stdout.print(
        f"[bold]service-scale[/]: N Services × 3 endpoints; TCP_CRR from node1-pod1 to the first and "
        f"the last Service ({s.repeats} runs × {s.duration:g} s, median, tool: "
        f"{report.rows[0].first.tool if report.rows else '-'}); {report.seconds:.0f} s in all",
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    for col in (
        "proxy",
        "Services",
        "program s",
        "rule lines",
        "first p50 µs",
        "first p99 µs",
        "last p50 µs",
        "last p99 µs",
        "last − first p50",
        "CPU µs/conn (last)",
    ):
        table.add_column(col, justify="left" if col == "proxy" else "right")
    for r in report.rows:
        f, la = r.first.estimates, r.last.estimates
        cpu = la.get("cpu_us_per_txn")
        table.add_row(
            r.proxy,
            str(r.services),
            f"{r.program_s:.2f}",
            _rules(r),
            f"{f['p50'].median:.0f}",
            f"{f['p99'].median:.0f}",
            f"{la['p50'].median:.0f}",
            f"{la['p99'].median:.0f}",
            f"{la['p50'].median - f['p50'].median:+.0f}",
            f"{cpu.median:.0f}" if cpu else "-",
        )
    stdout.print(table)
    made_by = {r.proxy: r.implementation for r in report.rows if r.implementation}
    for name, impl in made_by.items():
        stdout.print(f"{name}: {impl}", highlight=False)


def _rules(row: ScaleRow) -> str:
    """The renderer's lines of rule input, or (on the API) kube-proxy's own rule count."""
    if row.rule_lines is not None:
        return f"{row.rule_lines:,}"
    return "-" if row.rules is None else f"{row.rules:,} rules"


def write_chart(report: ScaleReport, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in report.settings.proxies:
        rows = [r for r in report.rows if r.proxy == name]
        xs = [r.services for r in rows]
        ax.plot(
            xs,
            [r.last.estimates["p50"].median for r in rows],
            marker="o",
            label=f"{name}, last Service",
        )
        ax.plot(
            xs,
            [r.first.estimates["p50"].median for r in rows],
            marker=".",
            linestyle="--",
            label=f"{name}, first Service",
        )
    ax.set_xscale("log")
    ax.set_xlabel("Services (× 3 endpoints)")
    ax.set_ylabel("TCP_CRR p50 µs")
    ax.set_title(
        "New-connection latency vs number of Services (kubenetlab service-scale)", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "service-scale.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def csv_text(report: ScaleReport) -> str:
    rows = [
        {
            "proxy": r.proxy, "services": r.services, "program_seconds": round(r.program_s, 3),
            "rule_lines": r.rule_lines, "rules": r.rules, "tool": r.first.tool,
            "implementation": r.implementation,
            **{f"crr_{which}_{key}": res.estimates[key].median
               for which, res in (("first", r.first), ("last", r.last))
               for key in CSV_FIGURES if key in res.estimates},
        }
        for r in report.rows
    ]  # fmt: skip
    fields = ["proxy", "services", "program_seconds", "rule_lines", "rules", "tool",
              "implementation"]  # fmt: skip
    fields += [f"crr_{w}_{k}" for w in ("first", "last") for k in CSV_FIGURES]
    return to_csv(rows, fields)
