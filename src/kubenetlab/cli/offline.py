"""Commands that need no lab and no root: `audit`, `mtu`, `proxy render`."""

from __future__ import annotations

import argparse
import sys

from kubenetlab.cli.common import Parser, Subparsers, add_cluster, add_output, emit, print_json
from kubenetlab.errors import UsageError


def register(commands: Subparsers) -> None:
    audit = commands.add_parser(
        "audit",
        help="find data-path overhead and breakage in configs",
        epilog="example:\n  kubectl get svc,endpointslice,deploy -A -o yaml | kubenetlab audit -\n"
        "  kubenetlab audit values.yaml --cilium-version 1.16.2 -o sarif\n"
        '  kubenetlab audit --helm-command "helm install cilium cilium/cilium --set tunnel=disabled"\n'
        "  kubenetlab audit --kubeconfig ~/.kube/config --context prod",
    )
    audit.add_argument(
        "paths",
        nargs="*",
        help="files or directories (manifests, Helm values, iptables-save, nft list ruleset, nft -j)",
    )
    audit.add_argument("--helm-command", help='e.g. "helm install cilium cilium/cilium --set …"')
    audit.add_argument("--cilium-version", help="check Cilium values against this version")
    audit.add_argument("--nodes", type=int, help="node count (for externalTrafficPolicy checks)")
    audit.add_argument("--pod-cidr", help="fills <POD_CIDR> in corrected commands")
    audit.add_argument("--api-server", help="HOST:PORT, fills k8sServiceHost/Port")
    audit.add_argument(
        "-f", "--file", action="append", default=[], help="a file to audit (repeatable)"
    )
    audit.add_argument(
        "--fail-on",
        choices=("error", "warning", "info", "none"),
        default="error",
        help="exit 1 when a finding at or above this severity is found (default: error)",
    )
    audit.add_argument(
        "--min-severity",
        choices=("info", "warning", "error"),
        default="info",
        help="show only findings at or above this severity (default: info)",
    )
    add_cluster(audit, "Services, EndpointSlices, workloads, Nodes, Gateway API routes")
    add_output(audit, ("text", "json", "sarif"))
    audit.set_defaults(handler=audit_cmd)
    _register_proxy(commands)
    _register_mtu(commands)


def _register_proxy(commands: Subparsers) -> None:
    proxy_cmd = commands.add_parser("proxy", help="service-proxy rules, without a lab")
    sub = proxy_cmd.add_subparsers(dest="proxy_command", required=True, parser_class=Parser)
    render = sub.add_parser(
        "render",
        help="the rules kube-proxy would program on a node",
        epilog="example:\n  kubenetlab proxy render -f examples/cluster-dump.yaml --node worker-1",
    )
    render.add_argument("-f", "--file", help="v1 Services and EndpointSlices (YAML)")
    render.add_argument(
        "--proxy",
        help="iptables, iptables-legacy, nftables, ebpf (map entries); default: the cluster's "
        "kube-proxy mode with --kubeconfig, else iptables",
    )
    render.add_argument("--node", required=True, help="node name (for Local policies)")
    render.add_argument(
        "--node-ip",
        action="append",
        default=[],
        help="the node's IPs (nftables, ebpf NodePorts); default with --kubeconfig: its InternalIPs",
    )
    render.add_argument("--lb-mode", default="snat", choices=("snat", "dsr", "hybrid"), help="ebpf")
    render.add_argument(
        "--lb-algorithm", default="random", choices=("random", "maglev"), help="ebpf"
    )
    render.add_argument(
        "--cluster-cidr",
        help="kube-proxy --cluster-cidr (default: the cluster's kube-proxy ConfigMap, "
        f"else {RENDER_DEFAULTS['cluster_cidr']})",
    )
    render.add_argument(
        "--service-cidr",
        help="the Service CIDR (default: the cluster's ServiceCIDRs, "
        f"else {RENDER_DEFAULTS['service_cidr']})",
    )
    add_cluster(render, "Services, EndpointSlices and the node's addresses")
    add_output(render, ("text", "json"))
    render.set_defaults(handler=proxy_render_cmd)


RENDER_DEFAULTS = {"proxy": "iptables", "cluster_cidr": "10.244.0.0/16",
                   "service_cidr": "10.96.0.0/12"}  # fmt: skip


def _register_mtu(commands: Subparsers) -> None:
    mtu = commands.add_parser(
        "mtu",
        help="encapsulation overhead and the pod MTU it leaves",
        epilog="example:\n  kubenetlab mtu --underlay-mtu 1500 --encap vxlan",
    )
    mtu.add_argument("--underlay-mtu", type=int, default=1500, help="the nodes' link MTU")
    mtu.add_argument("--encap", required=True, help="vxlan|geneve|ipip|gre|wireguard|ipsec|none")
    mtu.add_argument("--ipv6-underlay", action="store_true", help="the tunnel runs over IPv6")
    add_output(mtu, ("table", "json"))
    mtu.set_defaults(handler=mtu_cmd)


def audit_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.audit.run import AuditOptions, audit
    from kubenetlab.audit.sarif import to_sarif
    from kubenetlab.cli.progress import progress
    from kubenetlab.report.audit_report import print_audit

    paths = [*args.paths, *args.file]
    if not paths and not args.helm_command and not args.kubeconfig:
        raise UsageError(
            "audit needs PATH… (or -f FILE, - for stdin), --kubeconfig and/or --helm-command"
        )
    options = AuditOptions(
        paths, args.helm_command, args.cilium_version, args.nodes, args.pod_cidr,
        args.api_server, args.kubeconfig, args.context, args.timeout,
    )  # fmt: skip
    with progress("audit", 1, hidden=True) as bar:  # shown once a large input is being read
        report = audit(options, bar.set).at_least(args.min_severity)
    if args.output == "json":
        print_json(report.to_dict())
    elif args.output == "sarif":
        print_json(to_sarif(report.findings, report.errors))
    else:
        print_audit(report)
    for err in report.errors:
        sys.stderr.write(f"kubenetlab: error: {err.path}: {err.message}\n")
    if report.errors:
        return 2
    return 1 if args.fail_on != "none" and report.failing(args.fail_on) else 0


def _check_render_addresses(args: argparse.Namespace) -> None:
    """These reach the rule text verbatim: an address and CIDRs, or exit 2 before rendering."""
    from ipaddress import IPv4Address, IPv4Network

    for flag, values, kind in (
        ("--node-ip", args.node_ip, IPv4Address),
        ("--cluster-cidr", [args.cluster_cidr], IPv4Network),
        ("--service-cidr", [args.service_cidr], IPv4Network),
    ):
        for value in values:
            try:
                # host bits allowed, as Go's net.ParseCIDR (kube-proxy's parser) allows them
                IPv4Address(value) if kind is IPv4Address else IPv4Network(value, strict=False)
            except ValueError:
                what = "an IPv4 address" if kind is IPv4Address else "an IPv4 CIDR (like 10.244.0.0/16)"
                raise UsageError(f"{flag} must be {what}, not {value!r}") from None


def proxy_render_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.kube.load import load_checked
    from kubenetlab.proxy import NodeContext, proxy
    from kubenetlab.services import read_kubernetes

    if (args.file is None) == (args.kubeconfig is None):
        raise UsageError("proxy render needs -f FILE or --kubeconfig FILE (one of them)")
    if args.file is not None:
        objects, source = load_checked(args.file), args.file
    else:
        objects, source = _render_inputs_from_cluster(args)
    for key, default in RENDER_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    _check_render_addresses(args)
    services, unsupported = read_kubernetes(objects)
    for gap in unsupported:  # never dropped silently: kube-proxy would program these
        print(
            f"kubenetlab: warning: Service {gap.service}: {gap.field}: {gap.reason}",
            file=sys.stderr,
        )
    if not services and not unsupported:
        raise UsageError(f"{source}: no v1 Service with a clusterIP")
    ctx = NodeContext(
        args.node, "", tuple(args.node_ip), args.cluster_cidr, args.service_cidr,
        lb_mode=args.lb_mode, lb_algorithm=args.lb_algorithm,
    )  # fmt: skip
    text = proxy(args.proxy).render_services(services, ctx)
    if args.output == "json":
        emit(
            {"schema_version": 1, "source": source, "proxy": args.proxy, "node": args.node,
             "node_ips": args.node_ip, "cluster_cidr": args.cluster_cidr,
             "service_cidr": args.service_cidr, "rules": text, "services": len(services),
             "unsupported": [g.to_dict() for g in unsupported]},
            "json",
        )  # fmt: skip
    else:
        sys.stdout.write(text)
    return 0


def _render_inputs_from_cluster(args: argparse.Namespace) -> tuple[list, str]:
    """Services and EndpointSlices from the cluster; what the flags leave unset taken from
    it (kube-proxy's ConfigMap, the Node's InternalIPs, the ServiceCIDRs), each said on
    stderr with where it came from."""
    from kubenetlab.kube import cluster
    from kubenetlab.kube.dataplane_config import facts_of, value

    kinds = [cluster.SERVICES, cluster.ENDPOINT_SLICES, cluster.NODES, cluster.SERVICE_CIDRS]
    with cluster.Cluster(args.kubeconfig, args.context, args.timeout) as live:
        found, _ = cluster.read_objects(live, kinds, (cluster.KUBE_PROXY_CONFIG,))
        source = f"cluster://{live.context}"
        nodes = {(o.get("metadata") or {}).get("name"): o for o in found if o["kind"] == "Node"}
        if args.node not in nodes:
            names = ", ".join(sorted(n for n in nodes if n)) or "none"
            raise UsageError(f"--node {args.node}: no such Node in {source} (nodes: {names})")
        taken = []
        facts = [f for o in found if o["kind"] == "ConfigMap" for f in facts_of(o)]
        if args.proxy is None and (mode := value(facts, "kube-proxy mode")):
            args.proxy = mode
            taken.append(f"--proxy {mode} (kube-proxy's ConfigMap)")
        if args.cluster_cidr is None and (cidr := value(facts, "kube-proxy clusterCIDR")):
            args.cluster_cidr = cidr.split(",")[0]
            taken.append(f"--cluster-cidr {args.cluster_cidr} (kube-proxy's ConfigMap)")
        if not args.node_ip:
            args.node_ip = cluster.internal_ipv4s(nodes[args.node])
            if args.node_ip:
                taken.append(f"--node-ip {','.join(args.node_ip)} (Node {args.node})")
        cidrs = [c for o in found if o["kind"] == "ServiceCIDR"
                 for c in (o.get("spec") or {}).get("cidrs", []) if ":" not in c]  # fmt: skip
        if args.service_cidr is None and cidrs:
            args.service_cidr = cidrs[0]
            taken.append(f"--service-cidr {cidrs[0]} (ServiceCIDR)")
        if taken:
            print(f"kubenetlab: from {source}: {'; '.join(taken)}", file=sys.stderr)
        objects = live.typed([o for o in found if o["kind"] in ("Service", "EndpointSlice")])
    return objects, source


def mtu_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.mtu import calculate
    from kubenetlab.report.audit_report import print_mtu_calculation

    doc = calculate(args.underlay_mtu, args.encap.lower(), args.ipv6_underlay)
    print_json(doc) if args.output == "json" else print_mtu_calculation(doc)
    return 0
