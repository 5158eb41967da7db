"""BenchResult → a human table, or CSV rows. Every figure names the tool behind it."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from kubenetlab.bench.result import LATENCY_TESTS, BenchResult
from kubenetlab.bench.stats import Estimate
from kubenetlab.report.tables import stdout


def fmt_median(e: Estimate | None, digits: int = 1) -> str:
    return "-" if e is None else f"{e.median:.{digits}f}"


def fmt_ci(e: Estimate | None, digits: int = 1) -> str:
    return "-" if e is None else f"{e.ci_low:.{digits}f}–{e.ci_high:.{digits}f}"


def fmt_cv(e: Estimate | None) -> str:
    return "-" if e is None or e.cv is None else f"{100 * e.cv:.1f}%"


LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "max")


def print_bench(result: BenchResult) -> None:
    level = next(iter(result.estimates.values())).ci_level
    stdout.print(
        f"[bold]{result.test_name}[/] {result.src} → {result.dst} ({result.dst_ip}), "
        f"{result.path}; lab {result.lab}, profile {result.profile}; tool: {result.tool}; "
        f"{len(result.runs)} runs × {result.duration_s:g} s"
        f"{f', message {result.msg_size} B' if result.test in LATENCY_TESTS else ''}; "
        f"median of runs with a {100 * level:.1f}% order-statistic CI",
        highlight=False,
    )
    if result.test in LATENCY_TESTS:
        stdout.print(_latency_table(result, level))
    else:
        stdout.print(_stream_table(result, level))
    if result.placement:
        stdout.print(placement_line(result.placement), highlight=False)
    if result.proxy:
        where = "cluster's" if (result.lab or "").startswith("cluster://") else "lab's"
        stdout.print(f"service proxy on the {where} nodes: {result.proxy}", highlight=False)
    for note in result.notes:
        stdout.print(f"note: {note}", highlight=False)


def placement_line(placement: dict[str, Any]) -> str:
    """Under every table: where client and server ran, which decides what latency means."""
    policy, client, server = (placement.get(k) for k in ("policy", "client_cpus", "server_cpus"))
    nodes = (placement.get("client_node"), placement.get("server_node"))
    if all(nodes):  # a cluster: two machines, each end's CPU is its own node's
        ends = [f"{end} on {node}" + (f" CPU {cpus[0]}" if cpus else "")
                for end, node, cpus in zip(("client", "server"), nodes, (client, server),
                                           strict=True)]  # fmt: skip
        where = ", ".join(ends)
    elif not client:
        where = "client and server unpinned"
    elif client == server:
        where = f"client and server both on CPU {client[0]}"
    else:
        where = f"client on CPU {client[0]}, server on CPU {server[0] if server else 'any'}"
    note = f"; {placement['note']}" if placement.get("note") else ""
    return f"CPU placement: {policy} ({where}{note})"


def _latency_table(result: BenchResult, level: float) -> Table:
    runs = Table(box=None, pad_edge=False)
    for col in ("run", *(f"{k} µs" for k in LATENCY_KEYS), "obs", "CPU µs/txn", "steal %"):
        runs.add_column(col, justify="right")
    for r in result.runs:
        lat = r.latency_us
        runs.add_row(
            str(r.index),
            *(f"{lat[k]:.1f}" for k in LATENCY_KEYS),
            str(lat["observations"]),
            _num(r.cpu_us_per_txn),
            _num(r.cpu.get("steal_percent"), 0),
        )
    e, cpu = result.estimates, result.estimates.get("cpu_us_per_txn")
    runs.add_row("median", *(fmt_median(e[k]) for k in LATENCY_KEYS), "", fmt_median(cpu), "")
    runs.add_row(
        f"{100 * level:.0f}% CI", *(fmt_ci(e[k]) for k in LATENCY_KEYS), "", fmt_ci(cpu), ""
    )
    runs.add_row("CV", *(fmt_cv(e[k]) for k in LATENCY_KEYS), "", fmt_cv(cpu), "")
    pooled = result.pooled_latency_us
    runs.add_row(
        "pooled", *(f"{pooled[k]:.1f}" for k in LATENCY_KEYS), str(pooled["observations"]), "", ""
    )
    return runs


def _stream_table(result: BenchResult, level: float) -> Table:
    runs = Table(box=None, pad_edge=False)
    loss = result.test == "udp_stream"
    for col in ("run", "Gbit/s", "lost %" if loss else "retransmits", "CPU s/GB", "steal %"):
        runs.add_column(col, justify="right")
    for r in result.runs:
        extra = _num(r.lost_percent, 2) if loss else str(r.retransmits)
        steal = _num(r.cpu.get("steal_percent"), 0)
        runs.add_row(str(r.index), f"{r.gbps:.2f}", extra, _num(r.cpu_s_per_gb, 3), steal)
    e, cpu = result.estimates, result.estimates.get("cpu_s_per_gb")
    key = "lost_percent" if loss else "retransmits"
    runs.add_row("median", fmt_median(e["gbps"], 2), fmt_median(e[key]), fmt_median(cpu, 3), "")
    runs.add_row(f"{100 * level:.0f}% CI", fmt_ci(e["gbps"], 2), fmt_ci(e[key]), fmt_ci(cpu, 3), "")
    runs.add_row("CV", fmt_cv(e["gbps"]), "", fmt_cv(cpu), "")
    return runs


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


CSV_FIELDS = [
    "lab",
    "profile",
    "test",
    "tool",
    "src",
    "dst",
    "run",
    "p50_us",
    "p90_us",
    "p99_us",
    "p99.9_us",
    "max_us",
    "observations",
    "gbps",
    "retransmits",
    "lost_percent",
    "cpu_us_per_txn",
    "cpu_s_per_gb",
    "steal_percent",
]


def csv_rows(result: BenchResult) -> list[dict[str, Any]]:
    rows = []
    for r in result.runs:
        lat = r.latency_us
        rows.append(
            {
                "lab": result.lab,
                "profile": result.profile,
                "test": result.test_name,
                "tool": result.tool,
                "src": result.src,
                "dst": result.dst,
                "run": r.index,
                "p50_us": lat.get("p50"),
                "p90_us": lat.get("p90"),
                "p99_us": lat.get("p99"),
                "p99.9_us": lat.get("p99.9"),
                "max_us": lat.get("max"),
                "observations": lat.get("observations"),
                "gbps": r.gbps,
                "retransmits": r.retransmits,
                "lost_percent": r.lost_percent,
                "cpu_us_per_txn": r.cpu_us_per_txn,
                "cpu_s_per_gb": r.cpu_s_per_gb,
                "steal_percent": r.cpu.get("steal_percent"),
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
