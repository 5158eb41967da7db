"""`kubenetlab assess`: a user's cluster read (live, read-only, or from dumps), what was
detected with where each fact came from, the twin lab that stands for it, and the twin
measured as it is and under each what-if, ranked by measured gain; `--plan` stops
before building anything."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kubenetlab.assess import WHAT_IFS
from kubenetlab.cli.common import Subparsers, add_cluster, add_output, emit, report_dir


def register(commands: Subparsers) -> None:
    assess = commands.add_parser(
        "assess",
        help="your cluster's data path, detected, replayed as a twin lab, and what to change",
        epilog="example:\n  kubenetlab assess -f examples/assess/small-cluster.yaml --plan\n"
        "  kubectl get nodes,daemonsets,configmaps,svc,endpointslices -A -o yaml > dump.yaml\n"
        "  kubenetlab assess -f dump.yaml --plan -o json\n"
        "  kubenetlab assess --kubeconfig ~/.kube/config --plan",
    )
    assess.add_argument("-f", "--file", dest="files", action="append", metavar="DUMP",
                        help="kubectl get … -o yaml output (repeatable)")  # fmt: skip
    add_cluster(assess, "the cluster")
    assess.add_argument("--values", action="append", default=[], metavar="FILE",
                        help="Cilium's Helm values file (repeatable, merged in order): fills "
                        "in what cilium-config does not say")  # fmt: skip
    assess.add_argument("--helm-command", metavar="CMD",
                        help="the `helm install|upgrade …` command Cilium was installed with "
                        "(its -f files and --set values, over --values)")  # fmt: skip
    assess.add_argument("--stack", help="the lab stack that stands for the cluster's data "
                        "path (default: the one detected)")  # fmt: skip
    assess.add_argument("--what-if", default=",".join(WHAT_IFS),
                        help=f"changes to measure (default: all of {','.join(WHAT_IFS)})")  # fmt: skip
    assess.add_argument("--nodes", type=int, default=3, help="nodes in the twin (2-8)")
    assess.add_argument("--node-mtu", type=int, help="the nodes' MTU (`ip link` on a node; the "
                        "API does not show it): the twin's, and the mtu what-if's path")  # fmt: skip
    assess.add_argument("--pod-mtu", type=int, help="the pods' MTU (`ip link` in a pod), when "
                        "the CNI's configuration does not say it")  # fmt: skip
    assess.add_argument("--repeats", type=int, default=3, help="interleaved runs per figure")
    assess.add_argument("--duration", type=float, default=1.0, help="seconds per run")
    assess.add_argument("--churn-seconds", type=float, default=10.0,
                        help="each churn window, quiet and at the cluster's endpoint churn rate "
                        "(0: no churn measurement)")  # fmt: skip
    assess.add_argument("--report", metavar="DIR", help="write assess.json and assess.html "
                        "there (and the compare and service-scale results they come from)")  # fmt: skip
    assess.add_argument("--plan", action="store_true",
                        help="print what was detected and the twin it would build; "
                        "build nothing")  # fmt: skip
    add_output(assess, ("table", "json"))
    assess.set_defaults(handler=assess_cmd)


def assess_cmd(args: argparse.Namespace) -> int:
    from kubenetlab.assess import helm, measure, profile, snapshot, twin
    from kubenetlab.errors import UsageError
    from kubenetlab.inputs import csv_list
    from kubenetlab.report.assess_report import print_plan, print_ranking

    if bool(args.files) == bool(args.kubeconfig):
        raise UsageError("assess reads a cluster: give --kubeconfig FILE or -f DUMP (one of them)")
    asked = csv_list(args.what_if, "what-if") if args.what_if else ()
    unknown = [w for w in asked if w not in WHAT_IFS]
    if unknown:
        raise UsageError(f"--what-if {unknown[0]!r}: one of {', '.join(WHAT_IFS)}")
    values = helm.facts(args.values, args.helm_command)  # bad values: exit 2 before reading
    if args.files:
        read, now = snapshot.from_files(args.files), None
    else:
        now = profile.now_utc()
        read = snapshot.from_cluster(args.kubeconfig, args.context, args.timeout)
    found = profile.profile(read, now, values)
    mtus = twin.Mtus(args.node_mtu, args.pod_mtu)
    profile.add_said_mtus(found, mtus.node, mtus.pod)
    plan = twin.plan(found, args.nodes, args.stack, asked, read, mtus)
    settings = measure.MeasureSettings(args.repeats, args.duration,
                                       churn_seconds=args.churn_seconds)  # fmt: skip
    measure.check(plan, settings)  # bad settings: exit 2 before any lab is built
    out = report_dir(args.report)
    if args.plan:
        doc = measure.Assessment(found, plan, settings).to_dict()
    else:
        doc = _measure(args, found, plan, settings)
    if args.output == "json":
        emit(doc, "json")
    else:
        print_plan(found, plan)
        if doc["measured"]:
            print_ranking(doc)
    if out is not None:
        _write(out, doc)
    sys.stdout.flush()
    return 0


def _measure(args: argparse.Namespace, found: Any, plan: Any, settings: Any) -> dict[str, Any]:
    from kubenetlab.assess import measure
    from kubenetlab.audit.run import AuditOptions, audit
    from kubenetlab.cli.progress import progress

    def audited() -> dict[str, Any]:
        options = AuditOptions(list(args.files or []), kubeconfig=args.kubeconfig,
                               context=args.context, timeout=args.timeout)  # fmt: skip
        return audit(options).to_dict()

    min_sync = found.fact("kube-proxy minSyncPeriod")
    with progress("assess", measure.steps(plan, settings, min_sync)) as bar:
        done = measure.run(found, plan, settings, audited,
                           lambda text: (bar.describe(text), bar.advance()))  # fmt: skip
    return done.to_dict()


def _write(out: Path, doc: dict[str, Any]) -> None:
    from kubenetlab.cli.progress import log
    from kubenetlab.report.assess_report import page

    written = [out / "assess.json", out / "assess.html"]
    written[0].write_text(json.dumps(doc, indent=2) + "\n")
    written[1].write_text(page(doc))
    for key, name in (("compare", "compare.json"), ("service_scale", "service-scale.json"),
                      ("churn", "churn.json"), ("mtu", "mtu.json")):  # fmt: skip
        if doc.get(key):
            (out / name).write_text(json.dumps(doc[key], indent=2) + "\n")
            written.append(out / name)
    log("wrote " + ", ".join(str(p) for p in written))
