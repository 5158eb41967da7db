"""The command line: parses arguments, calls the layers below, picks the output format.

One module per command group (`lab`, `measure`, `offline`); each registers its parsers
and sets `handler`. Nothing here decides anything about labs, proxies or statistics.
"""

from __future__ import annotations

import argparse
import signal
import sys

from kubenetlab import __version__, interrupt
from kubenetlab.cli import lab, measure, offline
from kubenetlab.cli.common import Parser
from kubenetlab.errors import KnlError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kubenetlab",
        description="Build Kubernetes network data paths in namespaces, measure, audit.",
    )
    parser.add_argument("--version", action="version", version=f"kubenetlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (lab, measure, offline):
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt.install()
    try:
        return int(args.handler(args))
    except KnlError as exc:
        sys.stderr.write(f"kubenetlab: error: {exc.message}\n")
        return exc.exit_code
    except (KeyboardInterrupt, interrupt.Interrupted) as exc:
        code = exc.exit_code if isinstance(exc, interrupt.Interrupted) else 130
        name = signal.Signals(code - 128).name
        sys.stderr.write(f"kubenetlab: interrupted ({name}); what it built is torn down\n")
        return code
