"""scenario mtu results: one table, verdicts under it, one chart."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.table import Table

from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.mtu import TEST_LABELS, Cell, MtuReport, Row


def _figure(cell: Cell, row: Row, digits: int) -> str:
    if cell.error:
        return "failed"
    value = cell.figure()
    if value is None:
        return "-"
    change = row.versus_aligned.get(TEST_LABELS[cell.test])
    text = f"{value:.{digits}f}"
    return f"{text} ({change:+.0f}%)" if change is not None else text


def _kernel(row: Row, key: str) -> int:
    return sum(cell.kernel.get(key, 0) for cell in row.cells.values())


def print_mtu_scenario(report: MtuReport) -> None:
    s = report.settings
    stdout.print(
        f"[bold]scenario mtu[/]: pod → pod on different nodes, {s.repeats} runs × {s.duration:g} s "
        "per test, median; (±%) against the aligned MTU at the same size; "
        f"{report.seconds:.0f} s in all",
        highlight=False,
    )
    stdout.print(
        "tools: TCP_STREAM iperf3 -l SIZE · UDP_STREAM iperf3 -u -b 0 -l SIZE (received) · "
        "TCP_RR sockperf -m SIZE; kernel counters summed over both pods and nodes from "
        "/proc/net/snmp, PMTU cache flushed before each test",
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    cols = (
        "profile",
        "case",
        "underlay/pod/path MTU",
        "size B",
        "TCP Gbit/s",
        "UDP Gbit/s",
        "TCP_RR p50 µs",
        "fragments",
        "reassembled",
        "ICMP frag-needed",
        "DF drops",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in cols[:3] else "right")
    for r in report.rows:
        c = r.case
        table.add_row(
            c.profile,
            c.kind,
            f"{c.underlay_mtu}/{c.pod_mtu}/{c.path_mtu}",
            str(r.size),
            _figure(r.cells["stream"], r, 2),
            _figure(r.cells["udp_stream"], r, 2),
            _figure(r.cells["rr"], r, 0),
            str(_kernel(r, "fragments_created")),
            str(_kernel(r, "reassembled")),
            str(_kernel(r, "icmp_frag_needed")),
            str(_kernel(r, "df_dropped")),
        )
    stdout.print(table)
    for i, r in enumerate(report.rows, 1):
        stdout.print(f"{i:>2}. {r.verdict}", highlight=False)
        for cell in r.cells.values():
            for note in [*cell.notes, *([cell.error] if cell.error else [])]:
                stdout.print(f"    {TEST_LABELS[cell.test]}: {note}", highlight=False)
    steal = report.steal_percent()
    if steal and steal[1] > 10:
        stdout.print(
            f"note: the hypervisor stole {steal[0]:.0f}% of the CPU (median; up to {steal[1]:.0f}%) "
            "during the runs: differences within about ±30% are noise on this host",
            highlight=False,
        )
    for name, reason in report.unavailable.items():
        stdout.print(f"{name}: not measured: {reason}", highlight=False)


def csv_text(report: MtuReport) -> str:
    f = io.StringIO()
    w = csv.writer(f)
    w.writerow(
        [
            "profile",
            "case",
            "underlay_mtu",
            "pod_mtu",
            "size",
            "test",
            "tool",
            "median",
            "unit",
            "vs_aligned_percent",
            "fragments",
            "reassembled",
            "icmp_frag_needed",
            "df_dropped",
            "error",
        ]
    )
    for r in report.rows:
        for t, cell in r.cells.items():
            label = TEST_LABELS[t]
            w.writerow(
                [
                    r.case.profile,
                    r.case.kind,
                    r.case.underlay_mtu,
                    r.case.pod_mtu,
                    r.size,
                    label,
                    cell.result.tool if cell.result else "",
                    cell.figure(),
                    "us" if t == "rr" else "Gbit/s",
                    r.versus_aligned.get(label, ""),
                    cell.kernel["fragments_created"],
                    cell.kernel["reassembled"],
                    cell.kernel["icmp_frag_needed"],
                    cell.kernel["df_dropped"],
                    cell.error or "",
                ]
            )
    return f.getvalue()


def write_chart(report: MtuReport, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    series: dict[str, list[Row]] = {}
    for r in report.rows:
        series.setdefault(f"{r.case.profile} {r.case.kind} (pod {r.case.pod_mtu})", []).append(r)
    for ax, test, unit in zip(
        axes, ("stream", "udp_stream", "rr"), ("Gbit/s", "Gbit/s", "p50 µs"), strict=True
    ):
        for name, rows in series.items():
            points = [(r.size, r.cells[test].figure()) for r in rows]
            xs = [x for x, y in points if y is not None]
            ax.plot(xs, [y for _, y in points if y is not None], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("message size, bytes")
        ax.set_ylabel(unit)
        ax.set_title(TEST_LABELS[test])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("kubenetlab scenario mtu: pod → pod across nodes (iperf3, sockperf)")
    fig.tight_layout()
    path = out / "mtu.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
