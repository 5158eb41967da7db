"""What every command group shares: the parser class, -o, and printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input, and
    help shows every default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"kubenetlab: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help (where there is one); examples (the epilog)
    printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


Subparsers = Any  # argparse's _SubParsersAction, which it does not export


def add_output(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")
) -> None:
    parser.add_argument(
        "-o", "--output", choices=choices, default=choices[0], help="output format (data on stdout)"
    )


def print_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def emit(doc: dict[str, Any], output: str) -> None:
    """A document as -o json or -o yaml (what kubectl users reach for)."""
    if output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))
    else:
        print_json(doc)
