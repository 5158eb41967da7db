"""`kubenetlab host check`: the host underneath, read without a lab."""

from __future__ import annotations

import argparse

from kubenetlab.cli.common import Parser, Subparsers, add_output, emit
from kubenetlab.errors import UsageError


def register(commands: Subparsers) -> None:
    host = commands.add_parser("host", help="the host underneath the cluster")
    sub = host.add_subparsers(dest="host_command", required=True, parser_class=Parser)
    check = sub.add_parser(
        "check",
        help="CPU steal, CPU flags, uplink MTU and tunnel offloads, the kernel options Cilium "
        "needs, conntrack limits and (optionally) etcd's disk, each with pass/warn/fail and the fix",
        epilog="example:\n  kubenetlab host check\n"
        "  kubenetlab host check --window 5 --etcd-dir /var/lib/etcd -o json",
    )
    check.add_argument("--window", type=float, default=1.0, help="seconds to sample CPU steal")
    check.add_argument(
        "--etcd-dir", help="also time fdatasync in this directory (4 MiB, etcd's 2300-byte writes)"
    )
    add_output(check, ("table", "json", "yaml"))
    check.set_defaults(handler=check_cmd)


def check_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.hostcheck import Host, run_checks, to_dict
    from kubenetlab.report.progress import progress
    from kubenetlab.report.tables import print_host_check

    if not 0.1 <= args.window <= 300:
        raise UsageError(f"--window must be 0.1-300 seconds, not {args.window:g}")
    with progress("host check", 1) as bar:
        checks = run_checks(Host(), args.window, args.etcd_dir)
        bar.advance()
    doc = to_dict(checks, args.window)
    if args.output == "table":
        print_host_check(doc)
    else:
        emit(doc, args.output)
    return 1 if doc["summary"]["fail"] else 0
