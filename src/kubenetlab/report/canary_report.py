"""scenario canary results as a table."""

from __future__ import annotations

from rich.table import Table

from kubenetlab.report.bench_table import to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.canary import CanaryReport


def print_canary(report: CanaryReport) -> None:
    doc = report.to_dict()  # the figures as -o json prints them, so both agree
    r = doc["request"]
    stdout.print(
        f"[bold]scenario canary[/]: {doc['requests']} × {r['method']} http://{r['host']}{r['path']} "
        f"through gateway {r['gateway']} ({doc['concurrency']} at a time); rule: "
        f"{doc['rule'] or 'none (404)'}; {doc['seconds']:.0f} s in all",
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    for col in ("backend", "weight", "expected", "observed", "count", "95% CI", "±0.05 check"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for b in doc["backends"]:
        low, high = b["ci95"]
        table.add_row(
            b["backend"],
            str(b["weight"]),
            f"{b['expected_share']:.3f}",
            f"{b['observed_share']:.3f}",
            str(b["count"]),
            f"{low:.3f}–{high:.3f}",
            "pass" if b["passed"] else "[red]FAIL[/]",
        )
    stdout.print(table)
    for b in doc["backends"]:
        if b["reason"]:
            stdout.print(f"{b['backend']}: {b['reason']}: its share is answered with HTTP 500")
    statuses = ", ".join(f"{s}: {n}" for s, n in doc["statuses"].items())
    stdout.print(f"statuses: {statuses}; non-2xx: {doc['non_2xx']}", highlight=False)
    if not doc["rule_agrees"]:
        stdout.print(
            f"[red]nginx answered from rules {doc['gateway_rules_seen']}, "
            f"kubenetlab's matcher chose {doc['rule']}[/]"
        )
    lat = doc["latency_us"]
    gw, svc, pod = lat["through_gateway"], lat["direct_to_service"], lat["direct_to_pod"]
    if gw and svc and pod:
        stdout.print(
            f"latency, from the gateway's namespace, one request at a time, rotating "
            f"({lat['requests_each']} each; {lat['tool'].split(' (')[0]}):",
            highlight=False,
        )
        table = Table(box=None, pad_edge=False)
        for col in ("path", "p50 µs", "p99 µs"):
            table.add_column(col, justify="left" if col == "path" else "right")
        table.add_row(
            "through the gateway (nginx → ClusterIP)", f"{gw['p50']:.0f}", f"{gw['p99']:.0f}"
        )
        table.add_row(
            f"ClusterIP {lat['service_target']}", f"{svc['p50']:.0f}", f"{svc['p99']:.0f}"
        )
        table.add_row(f"pod {lat['direct_target']}", f"{pod['p50']:.0f}", f"{pod['p99']:.0f}")
        stdout.print(table)
        stdout.print(
            f"the L7 hop adds {lat['gateway_overhead_p50_us']:+.0f} µs at p50 over the pod, "
            f"{lat['nginx_over_clusterip_p50_us']:+.0f} µs over the ClusterIP it proxies to",
            highlight=False,
        )
    verdict = "[green]passed[/]" if doc["passed"] else "[red]failed[/]"
    stdout.print(f"check: {verdict}")


def csv_text(report: CanaryReport) -> str:
    rows = report.to_dict()["backends"]
    for row in rows:
        row["ci95"] = "-".join(str(x) for x in row["ci95"])
    return to_csv(rows, list(rows[0]) if rows else ["backend"])
