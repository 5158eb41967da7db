"""`kubenetlab lab up|down|status|exec`."""

from __future__ import annotations

import argparse
import os
import re
import sys

from kubenetlab.cli.common import Parser, Subparsers, add_output, emit, print_json
from kubenetlab.errors import CommandFailed, UsageError


def register(commands: Subparsers) -> None:
    lab = commands.add_parser("lab", help="build, inspect and remove emulated clusters")
    sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=Parser)
    up = sub.add_parser(
        "up",
        help="build a lab from a spec and/or flags",
        epilog="example:\n  kubenetlab lab up -f examples/two-node.yaml\n"
        "  kubenetlab lab up --name demo --profile native --nodes 3 --dry-run -o json",
    )
    up.add_argument("-f", "--file", help="lab spec (YAML); flags below override it")
    up.add_argument("--name", help="lab name (namespaces are knl-NAME-…); default: default")
    up.add_argument("--profile", help="routing profile: native, vxlan, bgp, ipip (default vxlan)")
    for flag, what in (
        ("--nodes", "node count (default 2)"),
        ("--pods-per-node", "pods on each node (default 2)"),
        ("--underlay-mtu", "MTU of the fabric and node uplinks (default 1500)"),
        ("--pod-mtu", "pod MTU (default: underlay MTU − the profile's overhead)"),
    ):
        up.add_argument(flag, type=int, help=what)
    up.add_argument(
        "--proxy",
        help="service proxy: iptables, iptables-legacy, nftables, ebpf (default iptables, "
        "kube-proxy's default mode, when the lab has Services or runs Kubernetes; with "
        "--control-plane kubernetes, iptables and nftables are the upstream kube-proxy)",
    )
    up.add_argument(
        "--lb-mode", choices=("snat", "dsr", "hybrid"),
        help="ebpf: NodePort forwarding, as Cilium's loadBalancer.mode (default snat)",
    )  # fmt: skip
    up.add_argument(
        "--lb-algorithm", choices=("random", "maglev"),
        help="ebpf: backend choice, as Cilium's loadBalancer.algorithm (default random)",
    )  # fmt: skip
    up.add_argument(
        "--min-sync-period",
        metavar="DURATION",
        help="with --control-plane kubernetes: kube-proxy's minSyncPeriod, or the eBPF "
        "proxy agents' (default 1s)",
    )
    up.add_argument("--routes", help="Gateway API Gateways and HTTPRoutes (YAML) for a gateway")
    up.add_argument(
        "--control-plane", choices=("kubernetes", "etcd"),
        help="kubernetes: the upstream control plane (etcd, API server, controllers, scheduler; "
        "built by make setup); etcd: the Services in a real etcd that per-node agents watch",
    )  # fmt: skip
    up.add_argument(
        "--service-node-port-range", metavar="LOW-HIGH",
        help="node ports the lab (playing the API server) admits (default 30000-32767)",
    )  # fmt: skip
    up.add_argument("--etcd-data-dir", help="etcd's data directory (default: the lab's, tmpfs)")
    up.add_argument(
        "--dry-run", action="store_true", help="print the kernel objects, create nothing"
    )
    add_output(up, ("table", "json", "yaml"))
    up.set_defaults(handler=lab_up)
    _register_down_status_exec(sub)


def _register_down_status_exec(sub: Subparsers) -> None:
    down = sub.add_parser(
        "down",
        help="remove a lab (or every lab and leftover)",
        epilog="example:\n  kubenetlab lab down demo\n  kubenetlab lab down --all",
    )
    down.add_argument("name", nargs="?", help="the lab to remove")
    down.add_argument("--all", action="store_true", help="every lab, and knl- leftovers of crashes")
    add_output(down)
    down.set_defaults(handler=lab_down)
    status = sub.add_parser(
        "status",
        help="what a lab is made of",
        epilog="example:\n  kubenetlab lab status demo -o json",
    )
    status.add_argument("name", nargs="?", help="a lab (default: list every lab)")
    add_output(status, ("table", "json", "yaml"))
    status.set_defaults(handler=lab_status)
    exec_ = sub.add_parser(
        "exec",
        help="run a command in a pod's (or node's) namespace",
        epilog="example:\n  kubenetlab lab exec demo node1-pod1 -- ping -c1 10.244.1.2",
    )
    exec_.add_argument("name", help="the lab")
    exec_.add_argument("member", help="pod or node name, or fabric, client, gateway")
    exec_.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS…")
    exec_.set_defaults(handler=lab_exec)
    kubeconfig = sub.add_parser(
        "kubeconfig",
        help="the admin kubeconfig of a lab with control_plane: kubernetes",
        epilog='example:\n  kubectl --kubeconfig "$(kubenetlab lab kubeconfig demo)" get nodes\n'
        "  kubenetlab lab kubeconfig demo --raw > ~/.kube/knl-demo",
    )
    kubeconfig.add_argument("name", help="the lab")
    kubeconfig.add_argument(
        "--raw", action="store_true", help="print the kubeconfig itself, not its path"
    )
    kubeconfig.set_defaults(handler=lab_kubeconfig)


def _proxy_options(raw: dict[str, object], args: argparse.Namespace) -> dict[str, str] | None:
    """--lb-mode/--lb-algorithm over the spec's proxy_options."""
    given = (("lb_mode", args.lb_mode), ("lb_algorithm", args.lb_algorithm),
             ("min_sync_period", args.min_sync_period))  # fmt: skip
    flags = {k: v for k, v in given if v}
    if not flags:
        return None
    base = raw.get("proxy_options")
    return {**(base if isinstance(base, dict) else {}), **flags}


def _as_flags(message: str, overrides: dict[str, object]) -> str:
    """A spec key named in an error is the flag the user typed, when it came from one."""
    for key in sorted((k for k, v in overrides.items() if v is not None and "_" in k),
                      key=len, reverse=True):  # fmt: skip
        message = re.sub(rf"(?<![\w-]){key}\b", f"--{key.replace('_', '-')}", message)
    return message


def lab_up(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod
    from kubenetlab.cli.progress import progress
    from kubenetlab.inputs import load_yaml_documents
    from kubenetlab.plan import as_dicts, describe
    from kubenetlab.spec import build_lab, load_spec_file

    raw = load_spec_file(args.file) if args.file else {}
    overrides = {
        "name": args.name, "profile": args.profile, "nodes": args.nodes,
        "pods_per_node": args.pods_per_node, "underlay_mtu": args.underlay_mtu,
        "pod_mtu": args.pod_mtu, "proxy": args.proxy,
        "routes": load_yaml_documents(args.routes) if args.routes else None,
        "proxy_options": _proxy_options(raw, args),
        "control_plane": args.control_plane, "etcd_data_dir": args.etcd_data_dir,
        "service_node_port_range": args.service_node_port_range,
    }  # fmt: skip
    try:
        lab = build_lab(raw, overrides)
    except UsageError as exc:
        raise UsageError(_as_flags(exc.message, overrides)) from None
    if args.dry_run:
        objects, notes = labmod.preview(lab)
        if args.output == "table":
            print(describe(objects), end="")
        else:
            emit({"schema_version": 1, "name": lab.name, "objects": as_dicts(objects)}, args.output)
        for note in notes:
            print(f"kubenetlab: note: {note}", file=sys.stderr)
        return 0
    with progress(f"lab {lab.name}: building", 1, hidden=True) as bar:
        result = labmod.up(lab, bar.set)
    if args.output != "table":
        emit({**labmod.status(lab.name), "up_seconds": round(result.seconds, 3)}, args.output)
        return 0
    print(
        f"lab {lab.name} up in {result.seconds:.2f} s: {len(lab.nodes)} nodes, "
        f"{len(lab.pods)} pods, profile {lab.profile}, underlay MTU {lab.underlay_mtu}, "
        f"pod MTU {lab.pod_mtu} ({result.objects} kernel objects)"
    )
    if result.converged_seconds is not None:
        print(f"routes converged in {result.converged_seconds:.2f} s after the daemons started")
    return 0


def lab_down(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod

    if args.all == bool(args.name):
        raise UsageError("lab down takes a lab NAME or --all")
    result = labmod.down_all() if args.all else labmod.down(args.name)
    if args.output == "json":
        print_json(
            {
                "schema_version": 1,
                "labs": result.labs,
                "netns_removed": result.netns_removed,
                "processes_ended": result.processes_ended,
                "seconds": round(result.seconds, 3),
            }
        )
        return 0
    print(
        f"down: {', '.join(result.labs) or 'no lab'}; {result.netns_removed} namespaces removed, "
        f"{result.processes_ended} processes ended ({result.seconds:.2f} s)"
    )
    return 0


def lab_status(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod
    from kubenetlab.report import tables

    doc = labmod.status(args.name) if args.name else labmod.all_status()
    if args.output != "table":
        emit(doc, args.output)
    elif args.name:
        tables.print_lab_status(doc)
    else:
        tables.print_lab_list(doc["labs"])
    return 0


def lab_kubeconfig(args: argparse.Namespace) -> int:
    from kubenetlab import lab as labmod

    path = labmod.kubeconfig_path(args.name)
    sys.stdout.write(path.read_text() if args.raw else f"{path}\n")
    return 0


def lab_exec(args: argparse.Namespace) -> int:
    from kubenetlab.kernel import cgroups, netns, preflight
    from kubenetlab.live import attach

    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        raise UsageError("lab exec needs a command: kubenetlab lab exec LAB POD -- CMD…")
    if not cmd[0]:
        raise CommandFailed("command not found: '' (an empty program name)", 127)
    target = attach(args.name).netns(args.member)
    preflight.require_root("lab exec")
    netns.enter_for_exec(target)
    member = cgroups.member_cgroup(target)
    if member is not None:  # the eBPF proxy's socket LB applies to it, as to every pod process
        member.write_text(str(os.getpid()))
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        # The shell's (and kubectl exec's) conventions: 127 not found, 126 not runnable.
        raise CommandFailed(f"command not found: {cmd[0]!r}", 127) from None
    except OSError as exc:
        raise CommandFailed(f"cannot run {cmd[0]!r}: {exc.strerror}", 126) from None
