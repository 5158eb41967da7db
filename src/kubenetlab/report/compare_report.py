"""The compare table, CSV and report directory."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kubenetlab.bench.precision import half_width_percent, summary_line
from kubenetlab.bench.stats import Estimate
from kubenetlab.report.bench_table import fmt_cv, placement_line, to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.compare import (
    CRR_VIA_SERVICE,
    RR_VIA_NODEPORT,
    VIA_LABELS,
    CompareReport,
    Row,
)


def _est(row: Row, test: str, key: str) -> Estimate | None:
    result = row.results.get(test)
    return None if result is None else result.estimates.get(key)


def _num(x: float) -> str:
    """Three significant digits: 64.8, 365, 2760."""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def _with_ci(e: Estimate | None) -> str:
    """-o wide: the median and its whole confidence interval."""
    if e is None:
        return "-"
    if e.n < 2:
        return _num(e.median)  # one run: no interval to show
    return f"{_num(e.median)} [{_num(e.ci_low)}–{_num(e.ci_high)}]"


def _with_width(e: Estimate | None) -> str:
    """The default table: the median and the CI's half-width as a share of it (±3%)."""
    if e is None:
        return "-"
    half = half_width_percent(e)
    return _num(e.median) if half is None else f"{_num(e.median)} ±{half:.0f}%"


def _pct(row: Row, key: str) -> str:
    value = row.overhead_percent.get(key)
    return "-" if value is None else f"{value:+.0f}%"


def _columns(tests: tuple[str, ...], wide: bool) -> list[tuple[str, str, str, str]]:
    """(header, test, metric, kind) for the table, in order; short headers by default so
    the table fits 120 columns (-o wide: netperf's names and whole CIs)."""
    cols = []
    for test, name, short in (("rr", "TCP_RR", "RR"), ("udp_rr", "UDP_RR", "UDP_RR"),
                              ("crr", "TCP_CRR", "CRR")):  # fmt: skip
        if test in tests:
            label = name if wide else short
            cols += [(f"{label} p50 µs", test, "p50", "ci"), (f"{label} p99 µs", test, "p99", "ci")]
            if test == "rr":
                cols += [
                    ("p50 CV" if wide else "RR CV", test, "p50", "cv"),
                    ("CPU µs/txn", test, "cpu_us_per_txn", "ci"),
                    ("p50 vs underlay" if wide else "RR vs underlay", test, "p50", "pct"),
                ]
    if "crr" in tests:
        cols += [
            ("CRR via ClusterIP p50 µs" if wide else "CRR→ClusterIP p50 µs", "crr_service", "p50", "ci"),
            ("via ClusterIP vs underlay CRR" if wide else "vs underlay CRR", "crr_service", "p50", "pct"),
        ]  # fmt: skip
    if "rr" in tests:
        cols += [
            ("RR client→NodePort p50 µs" if wide else "RR→NodePort p50 µs", "rr_nodeport", "p50", "ci"),
        ]  # fmt: skip
    if "stream" in tests:
        cols += [
            ("Gbit/s", "stream", "gbps", "ci"),
            ("Gbit/s vs underlay", "stream", "gbps", "pct"),
        ]
    if "udp_stream" in tests:
        cols += [
            ("UDP Gbit/s", "udp_stream", "gbps", "ci"),
            ("UDP lost %", "udp_stream", "lost_percent", "ci"),
        ]
    return cols


def print_compare(report: CompareReport, wide: bool = False) -> None:
    s = report.settings
    measured = [row for row in report.rows if row.results]
    if not measured:  # e.g. a cluster with one schedulable node: each row says why
        for row in report.rows:
            stdout.print(f"{row.name}: not measured: {row.reason}", highlight=False)
        return
    level = next(
        e.ci_level
        for row in report.rows
        for r in row.results.values()
        for e in r.estimates.values()
    )
    tools = {}
    for row in measured:
        for test, r in row.results.items():
            tools.setdefault(VIA_LABELS.get(test, r.test_name), r.tool)
    runs = int(report.precision["runs"]) if report.precision else s.repeats
    ci = (
        "one run each: no confidence interval"
        if runs < 2
        else f"median [{100 * level:.1f}% order-statistic CI] of runs"
        if wide
        else f"median ±half-width of its {100 * level:.1f}% CI (-o wide: the CI)"
    )
    stdout.print(
        f"[bold]kubenetlab compare[/]: pod → pod on different nodes, {runs} interleaved runs "
        f"× {s.duration:g} s; {ci}; vs underlay = node → node on the same fabric; "
        f"{report.seconds:.0f} s in all",
        highlight=False,
    )
    stdout.print(
        "tools: " + "; ".join(f"{t}: {tool}" for t, tool in tools.items()), highlight=False
    )
    cols = _columns(s.tests, wide)
    if wide:
        _print_table(measured, cols, wide)
    else:
        # Two tables that each fit 120 columns: pod → pod, then through the service proxy
        # (the CV is in -o wide and the JSON; the ±CI width says the spread).
        via = (CRR_VIA_SERVICE, RR_VIA_NODEPORT)
        _print_table(measured, [c for c in cols if c[1] not in via and c[3] != "cv"], wide)
        proxied = [row for row in measured if any(t in row.results for t in via)]
        if proxied:
            stdout.print("through the service proxy:", highlight=False)
            _print_table(proxied, [c for c in cols if c[1] in via], wide)
    for row in report.rows:
        what = f"{row.name}: {row.models}" + (f"; service proxy: {row.proxy}" if row.proxy else "")
        stdout.print(
            what if row.results else f"{what} — not measured: {row.reason}", highlight=False
        )
    if report.driver_check:
        stdout.print(driver_check_line(report.driver_check), highlight=False)
    if report.precision:
        stdout.print(summary_line(report.precision), highlight=False)
    _print_traces(report)
    _print_footer(report, measured)


def _print_table(rows: list[Row], cols: list[tuple[str, str, str, str]], wide: bool) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("profile", no_wrap=True)
    for header, *_ in cols:
        # narrow terminals wrap a header or a cell onto two lines, never cut it ("…")
        table.add_column(header, justify="right", overflow="fold")
    for row in rows:
        cells = [row.name]
        for _, test, metric, kind in cols:
            e = _est(row, test, metric)
            cells.append(
                fmt_cv(e)
                if kind == "cv"
                else _pct(row, f"{test}.{metric}")
                if kind == "pct"
                else _with_ci(e)
                if wide
                else _with_width(e)
            )
        table.add_row(*cells)
    stdout.print(table)


def driver_check_line(d: dict[str, Any]) -> str:
    """The built-in driver against sockperf on the same path, the difference with its sign
    and what it means for the TCP_CRR figures."""
    diff = d["builtin_overhead_p50_us"]
    if abs(diff) < 1:
        meaning = "within 1 µs of each other: the built-in driver adds nothing measurable"
    elif diff > 0:
        meaning = (
            f"the built-in driver (used for TCP_CRR) costs {diff:+.1f} µs per transaction "
            "more; the TCP_CRR figures include it"
        )
    else:
        meaning = (
            f"the built-in driver is {-diff:.1f} µs per transaction faster ({diff:+.1f} µs); "
            "sockperf's own cost is in the TCP_RR figures"
        )
    return (
        f"driver check on {d['path']}: {d['builtin_tool']} TCP_RR p50 "
        f"{d['builtin_rr_p50_us']:.1f} µs vs {d['reference_tool']} "
        f"{d['reference_rr_p50_us']:.1f} µs: {meaning}"
    )


def _print_traces(report: CompareReport) -> None:
    """compare --trace: per profile, the one-way pod → pod path hop by hop (request)."""
    traced = [r for r in report.rows if r.trace and r.trace["directions"].get("request")]
    if not traced:
        return
    stdout.print(
        "where the time goes, one way pod → pod (kubenetlab trace: bpf_ktime_get_ns at tcx; "
        "p50 per hop, µs; bytes on the wire)",
        highlight=False,
    )
    table = Table(
        "profile", "sum of p50s", "hops", "bytes", "longest hops", box=None, pad_edge=False
    )
    for row in traced:
        hops = row.trace["directions"]["request"][1:]
        longest = sorted(hops, key=lambda h: -h["p50_us"])[:2]
        table.add_row(
            row.name, f"{sum(h['p50_us'] for h in hops):.1f}", str(len(hops)),
            str(max(h["wire_bytes"] or 0 for h in hops)),
            "; ".join(f"{h['hop']} {h['p50_us']:.1f} ({h['what']})" for h in longest),
        )  # fmt: skip
    stdout.print(table)


def _print_footer(report: CompareReport, measured: list[Row]) -> None:
    """Steal, the rows' notes and each test's CPU placement, under the table."""
    steal = max(
        (
            r.cpu.get("steal_percent") or 0.0
            for row in measured
            for res in row.results.values()
            for r in res.runs
        ),
        default=0.0,
    )
    if steal > 10:
        stdout.print(
            f"note: the hypervisor stole up to {steal:.0f}% of the CPU during runs "
            "(/proc/stat): expect noisy tails on this host",
            highlight=False,
        )
    notes = sorted(
        {
            n
            for row in measured
            for r in row.results.values()
            for n in r.notes
            if "hypervisor" not in n
        }
    )
    for note in notes:
        stdout.print(f"note: {note}", highlight=False)
    placements = {
        res.test_name
        + next(
            (f" via {v}" for v in ("ClusterIP", "NodePort") if v in res.path), ""
        ): placement_line(res.placement)
        for row in measured
        for res in row.results.values()
        if res.placement
    }
    tests_of: dict[str, list[str]] = {}  # one line per placement, naming its tests
    for test, line in placements.items():
        tests_of.setdefault(line, []).append(test)
    for line, tests in tests_of.items():
        stdout.print(f"{', '.join(tests)}: {line}", highlight=False)


CSV_FIELDS = [
    "profile",
    "models",
    "measured",
    "reason",
    "test",
    "tool",
    "metric",
    "median",
    "ci_low",
    "ci_high",
    "ci_level",
    "cv",
    "runs",
    "overhead_vs_underlay_percent",
]


def csv_rows(report: CompareReport) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in report.rows:
        if not row.results:
            out.append(
                {"profile": row.name, "models": row.models, "measured": False, "reason": row.reason}
            )
            continue
        for test, result in row.results.items():
            label = VIA_LABELS.get(test, result.test_name)
            for metric, e in result.estimates.items():
                out.append(
                    {
                        "profile": row.name,
                        "models": row.models,
                        "measured": True,
                        "reason": "",
                        "test": label,
                        "tool": result.tool,
                        "metric": metric,
                        "median": e.median,
                        "ci_low": e.ci_low,
                        "ci_high": e.ci_high,
                        "ci_level": e.ci_level,
                        "cv": e.cv,
                        "runs": e.n,
                        "overhead_vs_underlay_percent": row.overhead_percent.get(
                            f"{test}.{metric}"
                        ),
                    }
                )
    return out


def csv_text(report: CompareReport) -> str:
    return to_csv(csv_rows(report), CSV_FIELDS)
