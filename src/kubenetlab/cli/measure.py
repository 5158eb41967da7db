"""`kubenetlab bench`, `kubenetlab compare` and `kubenetlab scenario NAME` (built from the
scenario registry: each gets -o table|json|csv, --report DIR and a progress bar)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubenetlab.bench import precision
from kubenetlab.bench.placement import POLICIES
from kubenetlab.cli.common import Parser, Subparsers, add_output, emit, print_json, report_dir
from kubenetlab.cluster.settings import add_cluster_arguments
from kubenetlab.errors import UsageError

if TYPE_CHECKING:  # the scenarios package imports every scenario module (~1 s)
    from kubenetlab.scenarios.base import Scenario

OUTPUTS = ("table", "json", "csv")
CLUSTER_PATHS = ("pod", "underlay", "clusterip", "nodeport")  # cluster.compare.PATHS
CLUSTER_TESTS = ("rr", "crr", "stream")
SCENARIO_COMMANDS = ("compare", "scenario")  # what needs the scenario registry's arguments


def register(commands: Subparsers, scenarios: bool = True) -> None:
    """bench and trace; with `scenarios`, compare and `scenario NAME` too (importing every
    scenario module costs ~1 s, which other commands need not pay)."""
    bench = commands.add_parser(
        "bench",
        help="measure one path of a lab (or of a live cluster) with a standard tool",
        epilog="example:\n  kubenetlab bench demo --from node1-pod1 --to node2-pod1 --test rr\n"
        "  kubenetlab bench demo --from node1-pod1 --to default/web --test crr -o json\n"
        "  kubenetlab bench --kubeconfig ~/.kube/config --path clusterip --test crr",
    )
    bench.add_argument("name", nargs="?", help="lab name")
    bench.add_argument("--from", dest="src", help="pod or node (a lab's)")
    bench.add_argument("--to", dest="dst", help="pod, node or service (ns/name)")
    tests = ("rr", "crr", "stream", "udp_rr", "udp_stream")
    bench.add_argument(
        "--test",
        choices=tests,
        default="rr",
        help="TCP_RR, TCP_CRR, TCP_STREAM, UDP_RR, UDP_STREAM",
    )
    bench.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    precision.add_arguments(
        bench,
        "runs (median and CI across them)",
        "the CI half-width of the p50 (Gbit/s for streams)",
    )
    bench.add_argument("--report", metavar="DIR", help="write bench.json and bench.csv there")
    bench.add_argument("--msg-size", type=int, default=1, help="request/response bytes")
    bench.add_argument("--builtin", action="store_true", help="RR with the built-in driver")
    bench.add_argument(
        "--cpus",
        choices=POLICIES,
        default="auto",
        help="CPU placement of client and server: same (one CPU), split (one each), none; "
        "auto: same for rr/crr/udp_rr, split for streams",
    )
    cluster = bench.add_argument_group("a live cluster instead of a lab (cluster mode)")
    add_cluster_arguments(cluster)
    cluster.add_argument(
        "--path", choices=CLUSTER_PATHS,
        help="with --kubeconfig: pod (the default: pod → pod, two nodes), underlay (host network), "
        "clusterip (pod → ClusterIP), nodeport (node → NodePort on the other node)",
    )  # fmt: skip
    add_output(bench, OUTPUTS)
    bench.set_defaults(handler=bench_cmd)
    _register_trace(commands)
    if not scenarios:
        return
    from kubenetlab.scenarios import SCENARIOS

    _add_scenario(commands, SCENARIOS["compare"])
    scenario = commands.add_parser("scenario", help="multi-step experiments")
    sub = scenario.add_subparsers(dest="scenario", required=True, parser_class=Parser)
    for entry in SCENARIOS.values():
        if entry.name != "compare":  # its own command, as netperf users expect
            _add_scenario(sub, entry)


def _register_trace(commands: Subparsers) -> None:
    trace = commands.add_parser(
        "trace",
        help="per-hop latency of a path, timed in the kernel (eBPF at every interface)",
        epilog="example:\n  kubenetlab trace demo --from node1-pod1 --to node2-pod1 --packets 2000\n"
        "  kubenetlab trace svc --from node2-pod2 --to default/web --test rr --report out",
    )
    trace.add_argument("name", help="lab name (up)")
    trace.add_argument("--from", dest="src", required=True, help="pod")
    trace.add_argument("--to", dest="dst", required=True, help="pod, node or Service (ns/name)")
    trace.add_argument(
        "--test",
        choices=("udp", "rr", "crr"),
        default="udp",
        help="probes: UDP datagrams, TCP messages over one connection, or one connection each "
        "(a Service needs rr or crr)",
    )
    trace.add_argument(
        "--packets",
        type=int,
        help="request/response probes (default: 2000; with --duration, no limit)",
    )
    trace.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="probe for this many seconds instead (with --packets as the most); 0: by count",
    )
    trace.add_argument("--size", type=int, default=64, help="probe payload bytes")
    trace.add_argument(
        "--report", metavar="DIR", help="write trace.json and the waterfall trace.png"
    )
    add_output(trace, ("table", "json"))
    trace.set_defaults(handler=trace_cmd)


def trace_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.kernel import preflight
    from kubenetlab.live import attach
    from kubenetlab.report.trace_report import print_trace, write_waterfall
    from kubenetlab.trace import trace

    report_dir(args.report)  # before measuring: a bad destination must not lose the result
    live = attach(args.name)
    src, dst = live.member(args.src), live.member(args.dst)
    preflight.require_root("trace")
    packets = args.packets if args.packets is not None else 1000000 if args.duration else 2000
    result = trace(live, src, dst, packets, args.size, args.test, args.duration)
    if args.report:
        for path in write_waterfall(result, Path(args.report)):
            print(f"wrote {path}", file=sys.stderr)
    if args.output == "json":
        emit(result.to_dict(), "json")
    else:
        print_trace(result)
    return 0


def _add_scenario(commands: Subparsers, entry: Scenario) -> None:
    parser = commands.add_parser(entry.name, help=entry.help, epilog=entry.example)
    entry.arguments(parser)
    parser.add_argument("--report", metavar="DIR", help="write JSON, CSV and PNG charts there")
    add_output(parser, (*OUTPUTS, "wide"))
    parser.set_defaults(handler=lambda args: scenario_cmd(entry, args))


def scenario_cmd(entry: Scenario, args: argparse.Namespace) -> int:
    from kubenetlab.cli.progress import log, progress
    from kubenetlab.report import views

    settings = entry.settings(args)  # bad input: exit 2 before anything starts
    if entry.preview is not None and (shown := entry.preview(settings, args.output)) is not None:
        sys.stdout.write(shown)
        return 0
    report_dir(args.report)
    with progress(entry.name, entry.steps(settings)) as bar:
        report = entry.run(settings, lambda text: (bar.describe(text), bar.advance()))
    if args.output == "json":
        sys.stdout.write(report.to_json())
    elif args.output == "csv":
        sys.stdout.write(views.view(report).csv(report))
    else:
        views.view(report).table(report, args.output == "wide")
    if args.report:
        log("wrote " + ", ".join(str(p) for p in views.write(report, args.report)))
    return report.exit_code


def bench_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.bench import runner
    from kubenetlab.cli.progress import progress
    from kubenetlab.kernel import preflight
    from kubenetlab.live import attach

    if args.kubeconfig:
        return _bench_cluster(args)
    missing = [flag for flag, given in (("a lab name", args.name), ("--from", args.src),
                                        ("--to", args.dst)) if not given]  # fmt: skip
    if missing:
        raise UsageError(f"bench needs {', '.join(missing)} (or --kubeconfig FILE to measure "
                         "a live cluster)")  # fmt: skip
    for flag, given in (("--dry-run", args.dry_run), ("--nodes", args.nodes),
                        ("--path", args.path)):  # fmt: skip
        if given:
            raise UsageError(f"{flag} needs --kubeconfig")
    spec = runner.BenchSpec(
        args.test,
        args.duration,
        args.repeats,
        args.msg_size,
        force_builtin=args.builtin,
        cpus=args.cpus,
    )
    target = precision.target_of(args, spec.repeats)
    runner.tool_for(spec)  # a missing tool is exit 3 before anything starts
    report_dir(args.report)
    live = attach(args.name)
    src, dst = live.member(args.src), live.member(args.dst)
    runner.check_pair(src, dst, spec)
    preflight.require_root("bench")
    most = target.max_repeats if target else spec.repeats
    with progress(f"{args.test} {src.name} → {dst.name}", most) as bar:
        result = runner.run(live, src, dst, spec, on_run=bar.advance)
        runs = spec.repeats
        while target and not target.met(result) and runs < target.max_repeats:
            one = dataclasses.replace(spec, repeats=1)
            result = runner.merge([result, runner.run(live, src, dst, one, on_run=bar.advance)])
            runs += 1
    doc = result.to_dict()
    footer = None
    if target:
        doc["precision"] = precision.outcome(target, {f"{src.name} → {dst.name}": result}, runs)
        footer = precision.summary_line(doc["precision"])
    _emit_bench(args, result, doc, footer)
    return 0


def _emit_bench(args: argparse.Namespace, result: Any, doc: dict[str, Any],
                footer: str | None) -> None:  # fmt: skip
    """-o table|json|csv and --report DIR (bench.json, bench.csv), as every bench writes."""
    from kubenetlab.cli.progress import log
    from kubenetlab.report import bench_table

    csv_text = bench_table.to_csv(bench_table.csv_rows(result), bench_table.CSV_FIELDS)
    if args.output == "json":
        print_json(doc)
    elif args.output == "csv":
        sys.stdout.write(csv_text)
    else:
        bench_table.print_bench(result)
        if footer:
            print(footer)
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
        (out / "bench.csv").write_text(csv_text)
        log(f"wrote {out / 'bench.json'}, {out / 'bench.csv'}")


def _bench_cluster(args: argparse.Namespace) -> int:
    """bench --kubeconfig: one test over one path of a live cluster, in a namespace of its
    own (deleted however the run ends), with compare's pods, tools and parsers."""
    from kubenetlab.bench import runner
    from kubenetlab.cli.progress import progress
    from kubenetlab.cluster.compare import dry_run, measure
    from kubenetlab.cluster.settings import cluster_settings
    from kubenetlab.inputs import csv_list

    given = [flag for flag, value in (("a lab name", args.name), ("--from", args.src),
                                      ("--to", args.dst), ("--builtin", args.builtin),
                                      ("--ci-width", args.ci_width)) if value]  # fmt: skip
    if given:
        raise UsageError(f"{', '.join(given)}: for labs; with --kubeconfig the cluster's "
                         f"--path ({', '.join(CLUSTER_PATHS)}) is measured")  # fmt: skip
    if args.test not in CLUSTER_TESTS:
        raise UsageError(f"--kubeconfig runs {', '.join(CLUSTER_TESTS)}; not {args.test}")
    settings = cluster_settings(args, csv_list(args.nodes, "nodes") if args.nodes else ())
    if args.dry_run:
        sys.stdout.write(dry_run(settings, "json" if args.output == "json" else "yaml"))
        return 0
    spec = runner.BenchSpec(args.test, args.duration, args.repeats, args.msg_size, cpus=args.cpus)
    report_dir(args.report)
    path = args.path or "pod"
    with progress(f"{args.test} over the cluster's {path} path", spec.repeats) as bar:
        results, info = measure(settings, lambda target: [target.job(path, args.test)],
                                spec.repeats, lambda _: spec, lambda _: bar.advance())  # fmt: skip
    [result] = results.values()
    doc = {**result.to_dict(), "cluster": info.to_dict()}
    _emit_bench(args, result, doc, None)
    return 0
