"""scenario canary results as a table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kubenetlab.report.tables import stdout


def print_canary(doc: dict[str, Any]) -> None:
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
    gw, direct = lat["through_gateway"], lat["direct_to_pod"]
    if gw:
        line = f"latency through the gateway: p50 {gw['p50']:.0f} µs, p99 {gw['p99']:.0f} µs"
        if direct:
            line += (
                f"; straight to {lat['direct_target']} from the gateway's namespace: "
                f"p50 {direct['p50']:.0f} µs, p99 {direct['p99']:.0f} µs; the L7 hop adds "
                f"{lat['gateway_overhead_p50_us']:+.0f} µs at p50"
            )
        stdout.print(line + f" ({lat['tool']})", highlight=False)
    verdict = "[green]passed[/]" if doc["passed"] else "[red]failed[/]"
    stdout.print(f"check: {verdict}")
