"""`kubenetlab host check` (the host underneath, read without a lab) and `kubenetlab
locality` (where a name's addresses are)."""

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
    _register_locality(commands)


def _register_locality(commands: Subparsers) -> None:
    loc = commands.add_parser(
        "locality",
        help="resolve names (A, AAAA), place each address in a country (offline database), "
        "flag those outside the allowed set, time a TCP connect to each",
        epilog="example:\n  kubenetlab locality api.example.no shop.example.no\n"
        "  kubenetlab locality example.com --allow NO,SE,DK --resolver 9.9.9.9 -o json",
    )
    loc.add_argument("hosts", nargs="+", metavar="HOST", help="host names or IP addresses")
    loc.add_argument(
        "--allow", default="EEA", help="EEA and/or two-letter country codes, comma-separated"
    )
    loc.add_argument("--resolver", help="a DNS server's IP address (default: the system's)")
    loc.add_argument("--timeout", type=float, default=3.0, help="seconds per query and connect")
    loc.add_argument("--port", type=int, default=443, help="TCP port timed for the round trip")
    loc.add_argument("--no-rtt", action="store_true", help="resolve and place only; send no SYN")
    add_output(loc, ("table", "json", "yaml"))
    loc.set_defaults(handler=locality_cmd)


def locality_cmd(args: argparse.Namespace) -> int:
    import ipaddress

    from kubenetlab.locality import check, parse_allow, to_dict
    from kubenetlab.report.tables import print_locality

    allow = parse_allow(args.allow)
    if args.resolver:
        try:
            ipaddress.ip_address(args.resolver)
        except ValueError:
            raise UsageError(
                f"--resolver {args.resolver!r}: give the server's IP address"
            ) from None
    if not 0.1 <= args.timeout <= 60:
        raise UsageError(f"--timeout must be 0.1-60 seconds, not {args.timeout:g}")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be 1-65535, not {args.port}")
    port = None if args.no_rtt else args.port
    rows = check(args.hosts, allow, args.resolver, args.timeout, port)
    doc = to_dict(rows, allow, args.resolver, port)
    if args.output == "table":
        print_locality(doc)
    else:
        emit(doc, args.output)
    return 1 if doc["flagged"] else 0


def check_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.cli.progress import progress
    from kubenetlab.hostcheck import Host, run_checks, to_dict
    from kubenetlab.report.tables import print_host_check

    if not 0.1 <= args.window <= 300:
        raise UsageError(f"--window must be 0.1-300 seconds, not {args.window:g}")
    with progress("host check", 1) as bar:
        try:
            checks = run_checks(Host(), args.window, args.etcd_dir)
        except UsageError as exc:  # the etcd disk check names its own --dir
            raise UsageError(exc.message.replace("--dir ", "--etcd-dir ", 1)) from None
        bar.advance()
    doc = to_dict(checks, args.window)
    if args.output == "table":
        print_host_check(doc)
    else:
        emit(doc, args.output)
    return 1 if doc["summary"]["fail"] else 0
