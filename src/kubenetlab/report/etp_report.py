"""etp results: one row per proxy × policy × node."""

from __future__ import annotations

from rich.table import Table

from kubenetlab.report.bench_table import to_csv
from kubenetlab.report.tables import stdout
from kubenetlab.scenarios.etp import BACKEND, EtpReport


def print_etp(report: EtpReport) -> None:
    s = report.settings
    stdout.print(
        f"[bold]externalTrafficPolicy[/]: {s.requests} connections from the external client "
        f"({report.client_ip}) to each node's NodePort; one backend, {BACKEND}, kubenetlab's echo "
        f"server, answers with the source address it saw; a connection "
        f"not answered within {s.timeout:g} s counts as dropped ({report.seconds:.0f} s)",
        highlight=False,
    )
    table = Table("proxy", "policy", "NodePort on", "local backends", "answered",
                  "backend saw", "client IP kept", "health check", box=None, pad_edge=False)  # fmt: skip
    for r in report.rows:
        seen = ", ".join(f"{ip} ×{n}" for ip, n in r.sources_seen.items()) or "-"
        table.add_row(
            r.proxy, r.policy, r.node, str(r.local_backends), f"{r.answered}/{r.sent}", seen,
            "yes" if r.client_ip_kept else "no", str(r.health_check or "-"),
        )  # fmt: skip
    stdout.print(table)
    for proxy, impl in dict.fromkeys((r.proxy, r.implementation) for r in report.rows):
        if impl:
            stdout.print(f"{proxy}: {impl}", highlight=False)
    verdict = "as documented" if report.passed else "NOT as documented"
    stdout.print(
        f"{verdict}: Local keeps the client IP where a backend is and drops elsewhere (health "
        "check 503 there); Cluster answers on every node, NATing the source where the backend "
        "is on another node",
        highlight=False,
    )


def csv_text(report: EtpReport) -> str:
    fields = ["proxy", "policy", "node", "local_backends", "sent", "answered",
              "client_ip_kept", "health_check"]  # fmt: skip
    return to_csv([{k: getattr(r, k) for k in fields} for r in report.rows], fields)
