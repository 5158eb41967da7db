"""`kubenetlab report`: the article's claims, judged from result files, on one HTML page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kubenetlab.cli.common import Subparsers
from kubenetlab.errors import UsageError


def register(commands: Subparsers) -> None:
    report = commands.add_parser(
        "report",
        help="one HTML page: each of the article's claims, what was measured, and a verdict",
        epilog="example:\n  kubenetlab compare --report out && kubenetlab host check -o json > "
        "out/host.json\n  kubenetlab report out/compare.json out/host.json --html out/index.html\n"
        "  kubenetlab report out/*.json -o json   (also the verdicts as JSON on stdout)",
    )
    report.add_argument(
        "results",
        nargs="+",
        help="JSON written by compare, scenario mtu|service-scale|canary|convergence|etp, trace, "
        "etcd disk, host check, audit",
    )
    report.add_argument("--html", default="report.html", help="the HTML page to write")
    report.add_argument(
        "-o", "--output", default="none", metavar="none|json",
        help="what goes to stdout besides the page: json, each claim's verdict (default: none); "
        "an older `-o PAGE.html` still names the page",
    )  # fmt: skip
    report.add_argument("--verdicts", action="store_true", help="the same as -o json")
    report.set_defaults(handler=report_cmd)


def _page_path(args: argparse.Namespace) -> Path:
    """--html, or the page named by the older `-o PAGE.html`; never one of the inputs, never
    inside a directory that does not exist."""
    page = args.html
    if args.output not in ("none", "json"):
        if not args.output.endswith((".html", ".htm")) and "/" not in args.output:
            raise UsageError(f"-o must be none or json, not {args.output!r} (the page: --html PATH)")
        sys.stderr.write("kubenetlab: note: -o PAGE is the older form of --html PAGE\n")
        page = args.output
    out = Path(page)
    if out.is_dir():
        raise UsageError(f"--html {out}: is a directory; give a file name (e.g. {out}/index.html)")
    if not out.parent.is_dir():
        raise UsageError(f"--html {out}: directory {out.parent} does not exist")
    inputs = {Path(r).resolve() for r in args.results if r != "-"}
    if out.resolve() in inputs:
        raise UsageError(f"--html {out} is one of the results given: it would be overwritten")
    return out


# What reading a field of the wrong shape raises (null where a list belongs, a list where
# a mapping does): the result was edited or comes from something else.
MISSHAPEN = (TypeError, KeyError, AttributeError, IndexError, ValueError, StopIteration)


def _misshapen(evidence: Any, sources: list[dict[str, str]], exc: Exception) -> UsageError:
    """Exit 2 naming the result file whose fields kubenetlab never writes that way: each
    file is rendered alone to find it."""
    from kubenetlab.claims import Evidence
    from kubenetlab.report.html_report import judge_all, render

    culprit = "the result files together"
    for source in sources:
        alone = Evidence({source["kind"]: evidence.docs[source["kind"]]})
        try:
            render(alone, [source])
            judge_all(alone)
        except MISSHAPEN:
            culprit = source["path"]
            break
    detail = str(exc).splitlines()[0][:100] if str(exc) else ""
    return UsageError(
        f"{culprit}: a field has a shape kubenetlab never writes ({type(exc).__name__}: "
        f"{detail}); was it edited? Re-run the command that wrote it"
    )


def report_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.report.html_report import judge_all, render
    from kubenetlab.report.results import load

    out = _page_path(args)
    evidence, sources = load(args.results)
    try:
        html = render(evidence, sources)
        judged = judge_all(evidence)
    except MISSHAPEN as exc:
        raise _misshapen(evidence, sources, exc) from None
    try:
        out.write_text(html)
    except OSError as exc:
        raise UsageError(f"--html {out}: cannot write: {exc.strerror or exc}") from None
    if args.verdicts or args.output == "json":
        verdicts = [
            {"claim": c.id, "title": c.title, "verdict": v.status, "label": v.label}
            for c, v in judged
        ]
        sys.stdout.write(json.dumps({"schema_version": 1, "claims": verdicts}, indent=2) + "\n")
    sys.stderr.write(f"kubenetlab: report written to {out} ({len(html) // 1024} KiB)\n")
    return 0
