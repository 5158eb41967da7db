"""What every command group shares: the parser class, -o, and printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"kubenetlab: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


Subparsers = Any  # argparse's _SubParsersAction, which it does not export


def add_output(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")
) -> None:
    parser.add_argument("-o", "--output", choices=choices, default=choices[0])


def print_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
