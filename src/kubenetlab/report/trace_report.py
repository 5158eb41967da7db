"""`kubenetlab trace` as a table: one row per interface crossing, in path order."""

from __future__ import annotations

from rich.table import Table

from kubenetlab.report.tables import stdout
from kubenetlab.trace import Trace


def print_trace(result: Trace) -> None:
    stdout.print(
        f"[bold]trace[/] {result.src} → {result.dst}: {result.answered}/{result.sent} UDP probes "
        "answered; Δ = time since the previous crossing (bpf_ktime_get_ns at tcx ingress/egress)",
        highlight=False,
    )
    for direction, hops in result.directions.items():
        table = Table(title=direction, box=None, pad_edge=False, title_justify="left")
        for col in ("#", "crossing", "bytes on wire", "Δ p50 µs", "Δ p90 µs", "Δ p99 µs"):
            table.add_column(col, justify="left" if col == "crossing" else "right")
        for i, hop in enumerate(h.to_dict() for h in hops):
            first = i == 0
            table.add_row(
                str(i), hop["hop"], str(hop["wire_bytes"]),
                *(("-",) * 3 if first else (f"{hop[k]:.2f}" for k in ("p50_us", "p90_us", "p99_us"))),
            )  # fmt: skip
        stdout.print(table)
