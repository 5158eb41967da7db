"""What every command group shares: the parser class, -o, and printing JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kubenetlab.errors import UsageError


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
        if (
            action.default in (None, False, [], argparse.SUPPRESS)
            or "%(default)" in text
            or "(default" in text  # the help says it already, in its own words
        ):
            return text
        return f"{text} (default: %(default)s)"


Subparsers = Any  # argparse's _SubParsersAction, which it does not export


def add_output(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")
) -> None:
    parser.add_argument(
        "-o", "--output", choices=choices, default=choices[0], help="output format (data on stdout)"
    )


def add_cluster(parser: argparse.ArgumentParser, what: str) -> None:
    """--kubeconfig/--context/--timeout: read a live cluster (read-only verbs only)."""
    parser.add_argument(
        "--kubeconfig", metavar="FILE", help=f"read {what} from this cluster's API (read-only)"
    )
    parser.add_argument("--context", help="the kubeconfig context (default: its current one)")
    parser.add_argument(
        "--timeout", type=float, default=10, help="seconds to wait for each API request"
    )


def print_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def emit(doc: dict[str, Any], output: str) -> None:
    """A document as -o json or -o yaml (what kubectl users reach for)."""
    if output == "yaml":
        from kubenetlab import yamlout

        sys.stdout.write(yamlout.dump(doc))
    else:
        print_json(doc)


def report_dir(path: str | None) -> Path | None:
    """`--report DIR`, made (or found writable) before anything is measured: a result must
    never be lost to a bad destination after the run."""
    if path is None:
        return None
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--report {path}: exists and is not a directory") from None
    except OSError as exc:
        raise UsageError(f"--report {path}: cannot make it: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--report {path}: not writable")
    return out
