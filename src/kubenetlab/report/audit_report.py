"""Audit results as text (the default), grouped by file."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubenetlab.audit.findings import Finding
from kubenetlab.audit.inputs import ClusterInput
from kubenetlab.audit.run import AuditReport
from kubenetlab.report.tables import stdout

MARK = {"error": "[red]error[/]", "warning": "[yellow]warning[/]", "info": "[blue]info[/]"}


def print_audit(report: AuditReport) -> None:
    for src in report.sources:
        stdout.print(f"read {src.describe()}", highlight=False)
        for line in src.data.details() if isinstance(src.data, ClusterInput) else []:
            stdout.print(f"  {line}", highlight=False, markup=False)
    for err in report.errors:
        stdout.print(f"[red]could not audit[/] {err.path}: {err.message}", highlight=False)
    current = None
    shown: Counter[tuple[str, str]] = Counter()
    for f in report.findings:
        if f.file != current:
            current = f.file
            stdout.print(f"\n[bold]{f.file}[/]", highlight=False)
            _print_grouped(report.findings, f.file)
        shown[(f.file, f.rule)] += 1
        if shown[(f.file, f.rule)] > SHOWN[f.severity]:
            continue  # counted in the group line above
        where = f":{f.line}" if f.line else ""
        stdout.print(
            f"  {MARK[f.severity]} {f.rule} {f.file}{where}: {f.message}",
            highlight=False,
            markup=True,
        )
        if f.fix != "no action needed":
            stdout.print(f"      fix: {f.fix}", highlight=False, markup=False)
        stdout.print(f"      ref: {f.reference}", highlight=False, markup=False)
    for c in report.corrected_commands:
        stdout.print("\n[bold]corrected command[/] (replace <…> placeholders):", highlight=False)
        stdout.print(c["corrected"], highlight=False, markup=False, soft_wrap=True)
    counts = report.to_dict()["counts"]
    stdout.print(
        f"\n{counts['error']} errors, {counts['warning']} warnings, {counts['info']} info; "
        f"{len(report.sources)} inputs read, {len(report.errors)} unreadable",
        highlight=False,
    )


# Findings of one rule per file printed in full (a 10,000-rule route set gives 30,000
# findings); the rest are counted in one line. -o json and -o sarif have them all.
SHOWN = {"error": 10, "warning": 10, "info": 3}


def _print_grouped(findings: list[Finding], file: str) -> None:
    counts = Counter((f.severity, f.rule) for f in findings if f.file == file)
    for (severity, rule), n in sorted(counts.items(), key=lambda kv: kv[0][1]):
        if n > SHOWN[severity]:
            stdout.print(
                f"  {MARK[severity]} {rule}: {n:,} findings, the first {SHOWN[severity]} below "
                "(-o json lists all)",
                highlight=False,
            )


def print_mtu_calculation(doc: dict[str, Any]) -> None:
    stdout.print(
        f"{doc['encap']} over a {doc['underlay_mtu']}-byte {doc['underlay_family']} underlay: "
        f"{doc['overhead_bytes']} bytes of overhead → pod MTU {doc['pod_mtu']}",
        highlight=False,
    )
    stdout.print(
        f"  source: {doc['source']}" + (f" ({doc['note']})" if doc["note"] else ""), highlight=False
    )
    big = doc["largest_unfragmented"]
    stdout.print(
        f"  largest unfragmented: TCP MSS {big['tcp_mss']}, UDP payload "
        f"{big['udp_payload']}, ping -M do -s {big['icmp_ping_size']}",
        highlight=False,
    )
    for cni, c in doc["cni"].items():
        value = c["pod_mtu"] if c["pod_mtu"] is not None else "-"
        stdout.print(f"  {cni:8} {value!s:>6}  {c['how']}", highlight=False)
