"""`kubenetlab etcd disk`: fdatasync latency of a directory, as etcd's WAL sees it."""

from __future__ import annotations

import argparse
import sys

from kubenetlab.cli.common import Parser, Subparsers, add_output, print_json


def register(commands: Subparsers) -> None:
    etcd = commands.add_parser("etcd", help="etcd's view of this host")
    sub = etcd.add_subparsers(dest="etcd_command", required=True, parser_class=Parser)
    disk = sub.add_parser(
        "disk",
        help="fdatasync latency of a directory, as the article's fio job measures it",
        epilog="example:\n  kubenetlab etcd disk --dir /var/lib/etcd\n"
        "  kubenetlab etcd disk --dir /var/lib/etcd --engine builtin -o json",
    )
    disk.add_argument("--dir", default=".", help="the directory to test (etcd's data dir)")
    disk.add_argument("--size", default="22m", help="bytes written in all (k, m, g)")
    disk.add_argument("--bs", type=int, default=2300, help="bytes per write (a WAL entry)")
    disk.add_argument(
        "--engine", choices=("fio", "builtin"), default="fio", help="fio, or Python's own"
    )
    add_output(disk)
    disk.set_defaults(handler=disk_cmd)


def disk_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.bench.etcd_disk import measure, parse_size
    from kubenetlab.cli.progress import log, progress

    size = parse_size(args.size)
    with progress(f"etcd disk: {args.engine} on {args.dir}", 1) as bar:
        result = measure(args.dir, size, args.bs, args.engine)
        bar.advance()
    for warning in result.warnings:
        log(f"warning: {warning}")
    if args.output == "json":
        print_json(result.to_dict())
        return 0
    lat = result.latency_us
    print(
        f"fdatasync after each {result.bs}-byte write, {result.writes} writes to "
        f"{result.directory} ({result.filesystem}), {result.iops:.0f} IOPS; tool: {result.engine}"
    )
    print(
        "  "
        + "  ".join(f"{k} {lat[k] / 1000:.3f} ms" for k in ("p50", "p90", "p99", "p99.9", "max"))
    )
    for v in result.verdicts():
        mark = "pass" if v["passed"] else "FAIL"
        print(f"  {mark}: {v['check']} ({v['whose']})")
    sys.stdout.flush()
    return 0
