"""`kubenetlab report`: the article's claims, judged from result files, on one HTML page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kubenetlab.cli.common import Subparsers
from kubenetlab.errors import UsageError


def register(commands: Subparsers) -> None:
    report = commands.add_parser(
        "report",
        help="one HTML page: each of the article's claims, what was measured, and a verdict",
        epilog="example:\n  kubenetlab compare --report out && kubenetlab host check -o json > "
        "out/host.json\n  kubenetlab report out/compare.json out/host.json -o out/index.html\n"
        "  kubenetlab report out/*.json --verdicts   (the verdicts as JSON on stdout)",
    )
    report.add_argument(
        "results",
        nargs="+",
        help="JSON written by compare, scenario mtu|service-scale|canary|convergence|etp, trace, "
        "etcd disk, host check, audit",
    )
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write")
    report.add_argument(
        "--verdicts", action="store_true", help="also print each claim's verdict as JSON"
    )
    report.set_defaults(handler=report_cmd)


def report_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.report.html_report import judge_all, render
    from kubenetlab.report.results import load

    evidence, sources = load(args.results)
    out = Path(args.output)
    if out.is_dir():
        raise UsageError(f"-o {out}: is a directory; give a file name (e.g. {out}/index.html)")
    html = render(evidence, sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    if args.verdicts:
        verdicts = [
            {"claim": c.id, "title": c.title, "verdict": v.status, "label": v.label}
            for c, v in judge_all(evidence)
        ]
        sys.stdout.write(json.dumps({"schema_version": 1, "claims": verdicts}, indent=2) + "\n")
    sys.stderr.write(f"kubenetlab: report written to {out} ({len(html) // 1024} KiB)\n")
    return 0
