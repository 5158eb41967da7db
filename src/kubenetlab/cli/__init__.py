"""The command line: parses arguments, calls the layers below, picks the output format.

One module per command group (`lab`, `measure`, `offline`); each registers its parsers
and sets `handler`. Nothing here decides anything about labs, proxies or statistics.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from kubenetlab import __version__, interrupt
from kubenetlab.cli import assess, cluster, etcd, host, lab, measure, offline, report
from kubenetlab.cli.common import Parser, add_output, emit
from kubenetlab.errors import KnlError

DESCRIPTION = """\
What does your cluster's network data path cost, and what should you change?
kubenetlab builds Kubernetes data paths for real on this host (nodes and pods as network
namespaces; VXLAN, IPIP, direct routes or BGP; kube-proxy's iptables or nftables rules; a
Gateway API gateway), measures them with sockperf, iperf3 and fio, and audits real
configurations (manifests, Helm values, iptables-save, nft rulesets) without a lab."""

EPILOG = """\
start here:
  kubenetlab compare                            the article's table, measured here
  kubenetlab audit values.yaml --cilium-version 1.16.2
  kubenetlab lab up -f examples/two-node.yaml   then: lab status, lab exec, bench"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the command about to run, commands that cannot be it
    may be left out when leaving them out saves imports (the scenarios' ~1 s)."""
    parser = Parser(prog="kubenetlab", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"kubenetlab {__version__}")
    parser.add_argument(
        "--no-color", action="store_true", help="no colour or styling (also: NO_COLOR=1)"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    version = commands.add_parser(
        "version", help="kubenetlab's version and the upstream programs make setup built"
    )
    add_output(version)
    version.set_defaults(handler=print_version)
    for group in (lab, offline, etcd, host, report, cluster, assess):
        group.register(commands)
    scenarios = command is None or command in measure.SCENARIO_COMMANDS or command not in KNOWN
    measure.register(commands, scenarios=scenarios)
    return parser


# Commands that need no scenario module; anything else (a typo too) builds the whole parser,
# so an error lists every command.
KNOWN = {
    "version",
    "lab",
    "bench",
    "trace",
    "audit",
    "proxy",
    "mtu",
    "locality",
    "report",
    "etcd",
    "host",
    "cluster",
    "assess",
}


def print_version(args: argparse.Namespace) -> int:
    from kubenetlab.controlplane import upstream

    components = upstream.versions()
    if args.output != "table":
        emit({"schema_version": 1, "kubenetlab": __version__, "components": components},
             args.output)  # fmt: skip
        return 0
    print(f"kubenetlab {__version__}")
    for name, where in components.items():
        print(f"  {name:<24} {where}")
    return 0


def _no_color() -> None:
    from kubenetlab.cli import progress
    from kubenetlab.report import tables

    for console in (tables.stdout, progress.stderr):
        # no_color alone keeps bold and dim; without a colour system rich writes no escape
        # code at all (rich has no public setter for it after construction).
        console.no_color = True
        console._color_system = None


def main(argv: list[str] | None = None) -> int:
    # --no-color anywhere before a `--` (as kubectl takes its global flags), not only first
    words = list(sys.argv[1:] if argv is None else argv)
    cut = words.index("--") if "--" in words else len(words)
    anywhere = "--no-color" in words[:cut]
    words = [w for i, w in enumerate(words) if i >= cut or w != "--no-color"]
    command = next((w for w in words if not w.startswith("-")), None)
    args = build_parser(command).parse_args(words)
    if args.no_color or anywhere or os.environ.get("NO_COLOR"):
        _no_color()
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
