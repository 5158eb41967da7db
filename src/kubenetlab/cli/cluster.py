"""`kubenetlab cluster clean`: what cluster mode left on a cluster (a run killed with -9)."""

from __future__ import annotations

import argparse

from kubenetlab.cli.common import Subparsers, add_cluster, add_output, emit


def register(commands: Subparsers) -> None:
    from kubenetlab.cli.common import Parser

    group = commands.add_parser("cluster", help="cluster mode's objects on a live cluster")
    sub = group.add_subparsers(dest="cluster_command", required=True, parser_class=Parser)
    clean = sub.add_parser(
        "clean",
        help="delete the namespaces earlier runs left (found by kubenetlab's label)",
        epilog="example:\n  kubenetlab cluster clean --kubeconfig ~/.kube/config",
    )
    add_cluster(clean, "kubenetlab's namespaces")
    add_output(clean, ("table", "json"))
    clean.set_defaults(handler=clean_cmd)


def clean_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.cluster.compare import clean
    from kubenetlab.cluster.settings import ClusterSettings
    from kubenetlab.errors import UsageError

    if not args.kubeconfig:
        raise UsageError("cluster clean needs --kubeconfig FILE")
    gone = clean(ClusterSettings(args.kubeconfig, args.context, timeout=args.timeout))
    if args.output == "json":
        emit({"schema_version": 1, "deleted": gone}, "json")
    else:
        print(f"deleted {len(gone)} namespace(s){': ' + ', '.join(gone) if gone else ''}")
    return 0
