"""churn results: one line per proxy × Services × minSyncPeriod × window."""

from __future__ import annotations

import textwrap
from typing import Any

from rich.table import Table

from kubenetlab.report.bench_table import to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.churn import ChurnReport, Row, Window


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _rate(w: Window) -> str:
    if w.name == "quiet":
        return "quiet"
    short = " (behind)" if w.achieved_rate < 0.9 * w.asked_rate else ""
    return f"{w.achieved_rate:g}/s{short}"


def _syncs(w: Window) -> str:
    if w.syncs is None:
        return "-"
    if w.full_syncs is None:  # the eBPF agents: map updates, neither full nor partial
        return str(w.syncs)
    return f"{w.syncs} ({w.full_syncs}/{w.partial_syncs})"


def print_churn(report: ChurnReport, wide: bool = False) -> None:
    s = report.settings
    intro = (
        f"endpoint churn: per window {s.duration:g} s of TCP_CRR from node1-pod1 to a "
        f"ClusterIP while EndpointSlices change at the rate shown; CPU in % of one core (node%: "
        f"of all the node's CPUs): each "
        f"node's proxy from its own cgroup (the busiest of {s.nodes} nodes), the API server and "
        f"etcd from /proc; syncs and their p50/p99 (ms) and the programming latency p99 (ms) from "
        f"node1's kube-proxy metrics "
        f"(Prometheus bucket bounds); {report.cpus} CPUs here; {report.seconds:.0f} s"
    )
    stdout.print(textwrap.fill(intro, 110), highlight=False)
    table = Table("proxy", "Svcs", "minSync", "churn", "proxy%", "node%", "api%", "etcd%",
                  "syncs f/p", "sync p50/99", "prog p99", "CRR p50 µs",
                  box=None, pad_edge=False)  # fmt: skip
    if wide:
        table.add_column("CPU/conn µs")
        table.add_column("/proc%")
        table.add_column("rules (last sync)")
    for r in report.rows:
        for w in r.windows:
            cells = [
                r.proxy, f"{r.services:,}", r.min_sync_period, _rate(w),
                _num(w.proxy_percent_of_core), _num(w.proxy_percent_of_node),
                _num(w.apiserver_percent_of_core),
                _num(w.etcd_percent_of_core),
                _syncs(w),
                f"{_num(w.sync_p50_ms, 0)}/{_num(w.sync_p99_ms, 0)}", _num(w.programming_p99_ms, 0),
                _num(w.crr.get("p50_us")),
            ]  # fmt: skip
            if wide:
                procs = [
                    n.proc_percent_of_core for n in w.nodes if n.proc_percent_of_core is not None
                ]
                rules = "-" if w.rules is None else f"{w.rules:,} ({w.rules_last_sync:,})"
                cells += [_num(w.crr.get("cpu_us_per_connection")),
                          _num(max(procs) if procs else None), rules]  # fmt: skip
            table.add_row(*cells)
    stdout.print(table)
    for r in report.rows:
        line = (
            f"{r.proxy} × {r.services:,}: the API accepted the Services in {r.create_seconds:.1f} s, "
            f"every node programmed them after {r.programmed_seconds:.1f} s; {r.implementation}"
        )
        stdout.print(textwrap.fill(line, 110, subsequent_indent="  "), highlight=False)


SYNC_FIELDS = [
    "apiserver_percent_of_core", "etcd_percent_of_core", "syncs", "full_syncs", "partial_syncs",
    "sync_mean_ms", "sync_p50_ms", "sync_p99_ms", "programming_p50_ms", "programming_p99_ms",
    "rules", "rules_last_sync",
]  # fmt: skip
FIELDS = [
    "proxy", "services", "min_sync_period", "window", "asked_rate", "achieved_rate",
    "proxy_percent_of_core", "apiserver_percent_of_core", "etcd_percent_of_core", "syncs",
    "full_syncs", "partial_syncs", "sync_mean_ms", "sync_p50_ms", "sync_p99_ms",
    "programming_p50_ms", "programming_p99_ms", "rules", "rules_last_sync", "crr_p50_us",
    "crr_p99_us", "cpu_us_per_connection", "proxy_percent_of_node", "steal_percent",
    "iptables_backend",
]  # fmt: skip


def _csv_row(r: Row, w: Window) -> dict[str, Any]:
    return {
        "proxy": r.proxy, "services": r.services, "min_sync_period": r.min_sync_period,
        "window": w.name, "asked_rate": w.asked_rate, "achieved_rate": w.achieved_rate,
        "proxy_percent_of_core": w.proxy_percent_of_core,
        "proxy_percent_of_node": w.proxy_percent_of_node,
        **{k: getattr(w, k) for k in SYNC_FIELDS},
        "crr_p50_us": w.crr.get("p50_us"), "crr_p99_us": w.crr.get("p99_us"),
        "cpu_us_per_connection": w.crr.get("cpu_us_per_connection"),
        "steal_percent": w.crr.get("steal_percent"), "iptables_backend": r.iptables_backend,
    }  # fmt: skip


def csv_text(report: ChurnReport) -> str:
    return to_csv([_csv_row(r, w) for r in report.rows for w in r.windows], FIELDS)
