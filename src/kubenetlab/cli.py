"""The command line: parses arguments, calls the layers below, picks the output format."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kubenetlab import __version__, interrupt
from kubenetlab.errors import KnlError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"kubenetlab: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _output(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json")) -> None:
    parser.add_argument("-o", "--output", choices=choices, default=choices[0])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kubenetlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kubenetlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lab = commands.add_parser("lab", help="build, inspect and remove emulated clusters")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True, parser_class=_Parser)

    up = lab_commands.add_parser("up", help="build a lab from a spec and/or flags")
    up.add_argument("-f", "--file", help="lab spec (YAML); flags below override it")
    up.add_argument("--name")
    up.add_argument("--profile", help="routing profile (native, vxlan, bgp, ipip)")
    up.add_argument("--nodes", type=int)
    up.add_argument("--pods-per-node", type=int)
    up.add_argument("--underlay-mtu", type=int)
    up.add_argument("--pod-mtu", type=int)
    up.add_argument("--proxy", help="service proxy: iptables, iptables-legacy, nftables")
    up.add_argument("--routes", help="Gateway API Gateways and HTTPRoutes (YAML) for a gateway")
    up.add_argument(
        "--dry-run", action="store_true", help="print the kernel objects, create nothing"
    )
    _output(up)

    down = lab_commands.add_parser("down", help="remove a lab (or every lab and leftover)")
    down.add_argument("name", nargs="?")
    down.add_argument("--all", action="store_true", help="every lab, and knl- leftovers of crashes")
    _output(down)

    status = lab_commands.add_parser("status", help="what a lab is made of")
    status.add_argument("name", nargs="?")
    _output(status)

    exec_ = lab_commands.add_parser("exec", help="run a command in a pod's (or node's) namespace")
    exec_.add_argument("name")
    exec_.add_argument("member", help="pod or node name, or 'fabric'")
    exec_.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS…")

    bench = commands.add_parser("bench", help="measure one path of a lab with a standard tool")
    bench.add_argument("name", help="lab name")
    bench.add_argument("--from", dest="src", required=True, help="pod or node")
    bench.add_argument("--to", dest="dst", required=True, help="pod, node or service (ns/name)")
    bench.add_argument(
        "--test", choices=("rr", "crr", "stream", "udp_rr", "udp_stream"), default="rr"
    )
    bench.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--msg-size", type=int, default=1, help="request/response bytes")
    bench.add_argument("--builtin", action="store_true", help="RR with the built-in driver")
    _output(bench, ("table", "json", "csv"))

    compare = commands.add_parser("compare", help="the same tests across data-path profiles")
    compare.add_argument("--profiles", help="comma-separated (default: all known profiles)")
    compare.add_argument("--tests", default="rr,crr,stream", help="rr,crr,stream,udp_rr,udp_stream")
    compare.add_argument("--repeats", type=int, default=5)
    compare.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    compare.add_argument("--msg-size", type=int, default=1)
    compare.add_argument("--report", metavar="DIR", help="write JSON, CSV and PNG charts there")
    _output(compare, ("table", "json", "csv"))

    audit = commands.add_parser("audit", help="find data-path overhead and breakage in configs")
    audit.add_argument(
        "paths",
        nargs="*",
        help="files or directories (manifests, Helm values, "
        "iptables-save, nft list ruleset, nft -j)",
    )
    audit.add_argument("--helm-command", help='e.g. "helm install cilium cilium/cilium --set …"')
    audit.add_argument("--cilium-version", help="check Cilium values against this version")
    audit.add_argument("--nodes", type=int, help="node count (for externalTrafficPolicy checks)")
    audit.add_argument("--pod-cidr", help="fills <POD_CIDR> in corrected commands")
    audit.add_argument("--api-server", help="HOST:PORT, fills k8sServiceHost/Port")
    audit.add_argument("--fail-on", choices=("error", "warning"), help="exit 1 at this severity")
    _output(audit, ("text", "json", "sarif"))

    scenario = commands.add_parser("scenario", help="multi-step experiments")
    scenarios = scenario.add_subparsers(dest="scenario", required=True, parser_class=_Parser)
    scale = scenarios.add_parser(
        "service-scale", help="rule programming and new-connection cost vs N"
    )
    scale.add_argument("--services", default="100,1000,5000,10000", help="sizes, comma-separated")
    scale.add_argument("--proxy", default="iptables,iptables-legacy,nftables")
    scale.add_argument("--duration", type=float, default=2.0)
    scale.add_argument("--repeats", type=int, default=3)
    scale.add_argument("--profile", default="native", help="routing profile of the lab")
    scale.add_argument("--report", metavar="DIR", help="write JSON and a PNG chart there")
    _output(scale, ("table", "json"))
    mtu_scn = scenarios.add_parser(
        "mtu", help="MTU sweep per routing profile: throughput, latency, fragments, PMTU"
    )
    mtu_scn.add_argument("--profiles", default="native,vxlan,ipip,bgp", help="routing profiles")
    mtu_scn.add_argument("--sizes", default="64,1400,1472,8192,65000", help="message sizes, B")
    mtu_scn.add_argument(
        "--cases",
        default="aligned,misaligned,jumbo",
        help="MTU settings: aligned, misaligned, jumbo, blackhole (misaligned with ICMP filtered)",
    )
    mtu_scn.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    mtu_scn.add_argument("--repeats", type=int, default=3)
    mtu_scn.add_argument("--report", metavar="DIR", help="write JSON, CSV and a PNG chart there")
    _output(mtu_scn, ("table", "json"))

    canary = scenarios.add_parser(
        "canary", help="HTTPRoute weighted split through a real gateway, checked with requests"
    )
    canary.add_argument("-f", "--file", required=True, help="HTTPRoute(s), Gateways, Services")
    canary.add_argument("--requests", type=int, default=2000)
    canary.add_argument("--concurrency", type=int, default=10)
    canary.add_argument("--replicas", type=int, default=2, help="pods per backend Service")
    canary.add_argument("--profile", default="native", help="routing profile of the lab")
    canary.add_argument("--path", help="request path (default: what the first rule matches)")
    canary.add_argument("--method", help="request method (default: the match's, or GET)")
    canary.add_argument("--host", help="Host header (default: the route's first hostname)")
    _output(canary, ("table", "json"))

    proxy_cmd = commands.add_parser("proxy", help="service-proxy rules, without a lab")
    proxy_sub = proxy_cmd.add_subparsers(dest="proxy_command", required=True, parser_class=_Parser)
    render = proxy_sub.add_parser("render", help="the rules kube-proxy would program on a node")
    render.add_argument("-f", "--file", required=True, help="v1 Services and EndpointSlices (YAML)")
    render.add_argument("--proxy", default="iptables", help="iptables, iptables-legacy, nftables")
    render.add_argument("--node", required=True, help="node name (for Local policies)")
    render.add_argument("--node-ip", action="append", default=[], help="the node's IPs (nftables)")
    render.add_argument("--cluster-cidr", default="10.244.0.0/16")
    render.add_argument("--service-cidr", default="10.96.0.0/12")

    mtu = commands.add_parser("mtu", help="encapsulation overhead and the pod MTU it leaves")
    mtu.add_argument("--underlay-mtu", type=int, default=1500)
    mtu.add_argument("--encap", required=True, help="vxlan|geneve|ipip|gre|wireguard|ipsec|none")
    mtu.add_argument("--ipv6-underlay", action="store_true")
    _output(mtu, ("table", "json"))
    return parser


def _print_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def cmd_lab_up(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod
    from kubenetlab.plan import describe
    from kubenetlab.spec import build_lab, load_spec_file, load_yaml_documents

    raw = load_spec_file(args.file) if args.file else {}
    overrides = {
        "name": args.name,
        "profile": args.profile,
        "nodes": args.nodes,
        "pods_per_node": args.pods_per_node,
        "underlay_mtu": args.underlay_mtu,
        "pod_mtu": args.pod_mtu,
        "proxy": args.proxy,
        "routes": load_yaml_documents(args.routes) if args.routes else None,
    }
    lab = build_lab(raw, overrides)
    if args.dry_run:
        sys.stdout.write(describe(labmod.render(lab)))
        return 0
    result = labmod.up(lab)
    if args.output == "json":
        _print_json({**labmod.status(lab.name), "up_seconds": round(result.seconds, 3)})
    else:
        print(
            f"lab {lab.name} up in {result.seconds:.2f} s: {len(lab.nodes)} nodes, "
            f"{len(lab.pods)} pods, profile {lab.profile}, underlay MTU {lab.underlay_mtu}, "
            f"pod MTU {lab.pod_mtu} ({result.objects} kernel objects)"
        )
        if result.converged_seconds is not None:
            print(f"routes converged in {result.converged_seconds:.2f} s after the daemons started")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod

    if args.all == bool(args.name):
        raise UsageError("lab down takes a lab NAME or --all")
    result = labmod.down_all() if args.all else labmod.down(args.name)
    if args.output == "json":
        _print_json(
            {
                "schema_version": 1,
                "labs": result.labs,
                "netns_removed": result.netns_removed,
                "processes_ended": result.processes_ended,
                "seconds": round(result.seconds, 3),
            }
        )
    else:
        which = ", ".join(result.labs) or "no lab"
        print(
            f"down: {which}; {result.netns_removed} namespaces removed, "
            f"{result.processes_ended} processes ended ({result.seconds:.2f} s)"
        )
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod
    from kubenetlab.report import tables

    if args.name:
        doc = labmod.status(args.name)
        _print_json(doc) if args.output == "json" else tables.print_lab_status(doc)
    else:
        doc = labmod.all_status()
        _print_json(doc) if args.output == "json" else tables.print_lab_list(doc["labs"])
    return 0


def cmd_lab_exec(args: argparse.Namespace) -> int:
    from kubenetlab.kernel import netns, preflight
    from kubenetlab.live import attach

    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        raise UsageError("lab exec needs a command: kubenetlab lab exec LAB POD -- CMD…")
    target = attach(args.name).netns(args.member)
    preflight.require_root("lab exec")
    netns.enter_for_exec(target)
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        raise UsageError(f"command not found: {cmd[0]}") from None


def cmd_bench(args: argparse.Namespace) -> int:
    from kubenetlab.bench import runner
    from kubenetlab.kernel import preflight
    from kubenetlab.live import attach
    from kubenetlab.report import bench_table
    from kubenetlab.report.progress import progress

    spec = runner.BenchSpec(
        args.test, args.duration, args.repeats, args.msg_size, force_builtin=args.builtin
    )
    runner.tool_for(spec)  # a missing tool is exit 3 before anything starts
    live = attach(args.name)
    src, dst = live.member(args.src), live.member(args.dst)
    if src.kind not in ("pod", "node"):
        raise UsageError("--from must be a pod or node")
    runner.tool_for(spec, dst.kind)
    if src == dst:
        raise UsageError("--from and --to are the same endpoint")
    preflight.require_root("bench")
    with progress(f"{args.test} {src.name} → {dst.name}", spec.repeats) as bar:
        result = runner.run(live, src, dst, spec, on_run=bar.advance)
    if args.output == "json":
        _print_json(result.to_dict())
    elif args.output == "csv":
        sys.stdout.write(bench_table.to_csv(bench_table.csv_rows(result), bench_table.CSV_FIELDS))
    else:
        bench_table.print_bench(result)
    return 0


def _csv_list(value: str, what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise UsageError(f"{what} is empty")
    return items


def _csv_ints(value: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in _csv_list(value, what))
    except ValueError:
        raise UsageError(f"{what} takes integers, not {value!r}") from None


def _report_json(directory: str, name: str, doc: dict[str, Any]) -> tuple[Path, Path]:
    """--report DIR: the directory (made if missing) and the JSON document written in it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(doc, indent=2) + "\n")
    return out, out / name


def cmd_compare(args: argparse.Namespace) -> int:
    from kubenetlab import profiles
    from kubenetlab.bench.result import TEST_NAMES
    from kubenetlab.report import compare_report
    from kubenetlab.report.bench_table import to_csv
    from kubenetlab.report.progress import log, progress
    from kubenetlab.scenarios import compare

    tests = _csv_list(args.tests, "--tests")
    unknown = [t for t in tests if t not in TEST_NAMES]
    if unknown:
        raise UsageError(f"unknown test {unknown[0]!r} (known: {', '.join(TEST_NAMES)})")
    names = _csv_list(args.profiles, "--profiles") if args.profiles else profiles.DEFAULT_COMPARE
    settings = compare.CompareSettings(names, tests, args.repeats, args.duration, args.msg_size)
    from kubenetlab.bench.runner import BenchSpec

    BenchSpec(tests[0], args.duration, args.repeats, args.msg_size)  # validates the numbers
    runnable = [r for r in compare.resolve_all(names) if r.available]
    total = settings.repeats * compare.jobs_per_repeat(settings, runnable)
    with progress("compare", total) as bar:
        report = compare.run_compare(
            settings, on_step=lambda text: (bar.describe(text), bar.advance())
        )
    if args.output == "json":
        _print_json(report.to_dict())
    elif args.output == "csv":
        sys.stdout.write(to_csv(compare_report.csv_rows(report), compare_report.CSV_FIELDS))
    else:
        compare_report.print_compare(report)
    if args.report:
        for path in compare_report.write_report_dir(report, args.report):
            log(f"wrote {path}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from kubenetlab.audit.run import AuditOptions, audit
    from kubenetlab.audit.sarif import to_sarif
    from kubenetlab.report.audit_report import print_audit

    if not args.paths and not args.helm_command:
        raise UsageError("audit needs PATH… and/or --helm-command")
    if args.nodes is not None and args.nodes < 1:
        raise UsageError(f"--nodes must be at least 1, not {args.nodes}")
    report = audit(
        AuditOptions(
            args.paths,
            args.helm_command,
            args.cilium_version,
            args.nodes,
            args.pod_cidr,
            args.api_server,
        )
    )
    if args.output == "json":
        _print_json(report.to_dict())
    elif args.output == "sarif":
        _print_json(to_sarif(report.findings))
    else:
        print_audit(report)
    for err in report.errors:
        sys.stderr.write(f"kubenetlab: error: {err.path}: {err.message}\n")
    if report.errors:
        return 2
    return 1 if args.fail_on and report.failing(args.fail_on) else 0


def cmd_service_scale(args: argparse.Namespace) -> int:
    from kubenetlab.report import scale_report
    from kubenetlab.report.progress import log, progress
    from kubenetlab.scenarios import service_scale

    sizes = _csv_ints(args.services, "--services")
    settings = service_scale.ScaleSettings(
        sizes, _csv_list(args.proxy, "--proxy"), args.duration, args.repeats, args.profile
    )
    service_scale.validate(settings)
    with progress("service-scale", len(sizes) * len(settings.proxies) * 3) as bar:
        report = service_scale.run(settings, on_step=lambda t: (bar.describe(t), bar.advance()))
    if args.output == "json":
        _print_json(report.to_dict())
    else:
        scale_report.print_scale(report)
    if args.report:
        out, written = _report_json(args.report, "service-scale.json", report.to_dict())
        log(f"wrote {written} and {scale_report.write_chart(report, out)}")
    return 0


def cmd_scenario_mtu(args: argparse.Namespace) -> int:
    from kubenetlab.report import mtu_report
    from kubenetlab.report.progress import log, progress
    from kubenetlab.scenarios import mtu

    sizes = _csv_ints(args.sizes, "--sizes")
    settings = mtu.MtuSettings(
        _csv_list(args.profiles, "--profiles"),
        sizes,
        args.duration,
        args.repeats,
        _csv_list(args.cases, "--cases"),
    )
    mtu.validate(settings)
    with progress("scenario mtu", mtu.steps(settings)) as bar:
        report = mtu.run(settings, on_step=lambda t: (bar.describe(t), bar.advance()))
    if args.output == "json":
        _print_json(report.to_dict())
    else:
        mtu_report.print_mtu(report)
    if args.report:
        out, written = _report_json(args.report, "mtu.json", report.to_dict())
        paths = [written, mtu_report.write_csv(report, out), mtu_report.write_chart(report, out)]
        log("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_scenario_canary(args: argparse.Namespace) -> int:
    from kubenetlab.report.canary_report import print_canary
    from kubenetlab.report.progress import progress
    from kubenetlab.scenarios import canary
    from kubenetlab.spec import load_yaml_documents

    docs = load_yaml_documents(args.file)
    settings = canary.CanarySettings(
        requests=args.requests,
        concurrency=args.concurrency,
        replicas=args.replicas,
        profile=args.profile,
        path=args.path,
        method=args.method,
        host=args.host,
    )
    canary.plan(docs, args.file, settings)  # bad input: exit 2 before anything starts
    with progress("scenario canary", 3) as bar:
        report = canary.run(
            docs, args.file, settings, on_step=lambda t: (bar.describe(t), bar.advance())
        )
    doc = report.to_dict()
    _print_json(doc) if args.output == "json" else print_canary(doc)
    return 0 if report.passed else 1


def cmd_proxy_render(args: argparse.Namespace) -> int:

    import yaml

    from kubenetlab.proxy import NodeContext, proxy
    from kubenetlab.services import from_kubernetes
    from kubenetlab.spec import load_spec_file

    try:
        text = Path(args.file).read_text()
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError:
        load_spec_file(args.file)  # raises the one-line YAML error with its line
        raise
    services = from_kubernetes(docs)
    if not services:
        raise UsageError(f"{args.file}: no v1 Service with a clusterIP")
    ctx = NodeContext(args.node, "", tuple(args.node_ip), args.cluster_cidr, args.service_cidr)
    sys.stdout.write(proxy(args.proxy).render_services(services, ctx))
    return 0


def cmd_mtu(args: argparse.Namespace) -> int:
    from kubenetlab.mtu import calculate
    from kubenetlab.report.audit_report import print_mtu

    doc = calculate(args.underlay_mtu, args.encap, args.ipv6_underlay)
    _print_json(doc) if args.output == "json" else print_mtu(doc)
    return 0


HANDLERS = {
    ("lab", "up"): cmd_lab_up,
    ("lab", "down"): cmd_lab_down,
    ("lab", "status"): cmd_lab_status,
    ("lab", "exec"): cmd_lab_exec,
    ("bench", None): cmd_bench,
    ("compare", None): cmd_compare,
    ("audit", None): cmd_audit,
    ("scenario", "service-scale"): cmd_service_scale,
    ("scenario", "mtu"): cmd_scenario_mtu,
    ("scenario", "canary"): cmd_scenario_canary,
    ("proxy", "render"): cmd_proxy_render,
    ("mtu", None): cmd_mtu,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sub = next(
        (
            getattr(args, a)
            for a in ("lab_command", "scenario", "proxy_command")
            if getattr(args, a, None)
        ),
        None,
    )
    handler = HANDLERS[(args.command, sub)]
    interrupt.install()
    try:
        return handler(args)
    except KnlError as exc:
        sys.stderr.write(f"kubenetlab: error: {exc.message}\n")
        return exc.exit_code
    except (KeyboardInterrupt, interrupt.Interrupted) as exc:
        code = exc.exit_code if isinstance(exc, interrupt.Interrupted) else 130
        sys.stderr.write(
            f"kubenetlab: interrupted ({signal.Signals(code - 128).name}); "
            "what this command built is torn down\n"
        )
        return code
