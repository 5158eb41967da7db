"""What does `kubenetlab trace` add to the path it times? sockperf TCP_RR with the
tracer attached against without, interleaved.

A 2-node lab (`--profile`, default vxlan), sockperf TCP_RR pod → pod across nodes, N
pairs (default 5) of D-second runs: in each pair one run with the tracer's programs at
tcx ingress and egress of every interface of the path's namespaces (as `trace` attaches
them, no probes sent: every packet is parsed and passed) and one without, the order
alternating (`--tcp`: as `--test rr|crr` sets it, parsing every TCP payload). Prints
the median p50 and p99 of each and the added share of p50. Target: ≤ 10 % added.

    sudo .venv/bin/python benchmarks/trace_overhead.py [--pairs 5] [--duration 2] [-o json]
"""

from __future__ import annotations

import argparse
import json
import statistics

from kubenetlab import interrupt
from kubenetlab.bench import runner
from kubenetlab.live import running
from kubenetlab.spec import build_lab
from kubenetlab.trace import Attached, path_namespaces

TARGET = 10.0  # percent added to the p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--profile", default="vxlan")
    parser.add_argument(
        "--tcp",
        action="store_true",
        help="the tracer as --test rr|crr sets it: TCP payloads parsed",
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    args = parser.parse_args()
    interrupt.install()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    lab = build_lab({"name": "trace-ovh", "profile": args.profile, "nodes": 2, "pods_per_node": 1})
    with running(lab) as live:
        src, dst = live.member("node1-pod1"), live.member("node2-pod1")
        spec = runner.BenchSpec("rr", args.duration, 1)
        for pair in range(args.pairs):
            for mode in ("off", "on") if pair % 2 == 0 else ("on", "off"):
                attached = (
                    Attached(live, path_namespaces(live, src, dst), tcp=args.tcp)
                    if mode == "on"
                    else None
                )
                try:
                    runs[mode].append(runner.run(live, src, dst, spec).runs[0].latency_us)
                finally:
                    if attached:
                        attached.detach()
    med = {m: {q: statistics.median(r[q] for r in runs[m]) for q in ("p50", "p99")} for m in runs}
    added = 100 * (med["on"]["p50"] / med["off"]["p50"] - 1)
    met = added <= TARGET
    if args.output == "json":
        print(json.dumps({"schema_version": 1, "profile": args.profile, "pairs": args.pairs,
                          "duration_s": args.duration, "tcp_payloads_parsed": args.tcp,
                          "tool": "sockperf ping-pong (TCP_RR)",
                          "median_us": med, "added_p50_percent": round(added, 1),
                          "p50_runs_us": {m: [r["p50"] for r in runs[m]] for m in runs},
                          "target_met": met}, indent=2))  # fmt: skip
        return 0 if met else 1
    print(f"sockperf TCP_RR pod → pod across nodes ({args.profile}), {args.pairs} interleaved "
          f"pairs × {args.duration:g} s, tracer attached (on) or not (off)")  # fmt: skip
    for m in ("off", "on"):
        p50s = ", ".join(f"{r['p50']:.1f}" for r in runs[m])
        print(
            f"  {m:3}: p50 {med[m]['p50']:.1f} µs, p99 {med[m]['p99']:.1f} µs  (p50 per run: {p50s})"
        )
    print(
        f"added by tracing: {added:+.1f} % of p50; target ≤ {TARGET:.0f} %: {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
