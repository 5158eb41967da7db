"""convergence results: one row per proxy × etcd placement."""

from __future__ import annotations

from rich.table import Table

from kubenetlab.report.bench_table import to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.convergence import STAGES, ConvergenceReport


def print_convergence(report: ConvergenceReport) -> None:
    s = report.settings
    stdout.print(
        f"[bold]convergence[/]: {s.changes} endpoint changes written to etcd per row, "
        f"{s.services} other Services in the store; ms from the write to: etcd commit, "
        f"node1's agent receiving the event, node1 programmed, first reply from the new "
        f"backend (p50 / p99; wall clock of the writer, agent and client processes); fdatasync "
        f"p99 by `etcd disk`'s builtin engine where etcd writes ({report.seconds:.0f} s)",
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    for col in ("proxy", "etcd data", "fdatasync p99 ms", *STAGES):
        table.add_column(col, justify="left" if col in ("proxy", "etcd data") else "right")
    for r in report.rows:
        summary = r.summary()
        cells = [f"{summary[st]['p50']:.2f} / {summary[st]['p99']:.2f}" for st in STAGES]
        table.add_row(r.proxy, r.placement, f"{r.fsync_us.get('p99', 0) / 1000:.2f}", *cells)
    stdout.print(table)
    stdout.print(
        f"slow = the disk with etcd's writes limited to {s.slow_write_iops} IOPS by the blkio "
        "controller (blkio.throttle.write_iops_device), in a cgroup the lab owns",
        highlight=False,
    )


def csv_text(report: ConvergenceReport) -> str:
    rows = [
        {"proxy": r.proxy, "placement": r.placement, "fsync_p99_us": r.fsync_us.get("p99"),
         **{f"{s}_{q}_ms": v[q] for s, v in r.summary().items() for q in ("p50", "p99")}}
        for r in report.rows
    ]  # fmt: skip
    fields = ["proxy", "placement", "fsync_p99_us"]
    fields += [f"{s}_{q}_ms" for s in STAGES for q in ("p50", "p99")]
    return to_csv(rows, fields)
