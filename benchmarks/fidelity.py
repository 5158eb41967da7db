"""Does kubenetlab's TCP_RR agree with sockperf run by hand on the same path?

Interleaved A/B, N pairs (default 5) on a 2-node VXLAN lab, pod → pod across nodes:
  A = `kubenetlab bench LAB --test rr --repeats 1 -o json` (p50/p99 from HDR histograms
      of sockperf's full log),
  B = `kubenetlab lab exec LAB POD -- sockperf ping-pong --tcp … --full-rtt`, its printed
      percentiles parsed here with a regex of this script's own, pinned with `taskset -c 0`
      as kubenetlab's default placement for rr (`--cpus same`) pins both ends.
Prints each pair, the ratio A/B per pair and the median ratio (target 0.95–1.05), and
the same-run check: kubenetlab's percentiles against the ones sockperf printed for the
very samples kubenetlab pooled (isolates our arithmetic from run-to-run noise).

    sudo .venv/bin/python benchmarks/fidelity.py [--pairs 5] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys

LAB = "fidelity"
CLI = [sys.executable, "-m", "kubenetlab"]
PCT = re.compile(r"percentile\s+(\d+\.\d+)\s*=\s*([\d.]+)")


def cli(*args: str, stderr_too: bool = False) -> str:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"kubenetlab {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout + (result.stderr if stderr_too else "")


def by_hand(ip: str, duration: int) -> dict[str, float]:
    text = cli(
        "lab",
        "exec",
        LAB,
        "node1-pod1",
        "--",
        "taskset",  # the placement kubenetlab uses for rr by default (--cpus same: CPU 0)
        "-c",
        "0",
        "sockperf",
        "ping-pong",
        "--tcp",
        "-i",
        ip,
        "-p",
        "11111",
        "-t",
        str(duration),
        "-m",
        "14",
        "--full-rtt",
        stderr_too=True,
    )
    found = {k: float(v) for k, v in PCT.findall(text)}
    return {"p50": found["50.000"], "p99": found["99.000"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    cli("lab", "up", "--name", LAB, "--nodes", "2", "--pods-per-node", "1")
    rows = []
    try:
        status = json.loads(cli("lab", "status", LAB, "-o", "json"))
        ip = next(p["ip"] for p in status["pods"] if p["name"] == "node2-pod1")
        for _ in range(args.pairs):
            doc = json.loads(
                cli(
                    "bench",
                    LAB,
                    "--from",
                    "node1-pod1",
                    "--to",
                    "node2-pod1",
                    "--test",
                    "rr",
                    "--repeats",
                    "1",
                    "--duration",
                    str(args.duration),
                    "-o",
                    "json",
                )
            )
            run = doc["runs"][0]
            own = run["tool_report"]["percentiles_us"]
            a = {"p50": run["latency_us"]["p50"], "p99": run["latency_us"]["p99"]}
            same = {"p50": own["50.000"], "p99": own["99.000"]}
            rows.append((a, by_hand(ip, args.duration), same))
    finally:
        cli("lab", "down", LAB)

    print(
        f"TCP_RR pod → pod across nodes (VXLAN), {args.pairs} interleaved pairs × "
        f"{args.duration} s; A = kubenetlab bench, B = sockperf by hand"
    )
    head = ("pair", "A p50 µs", "B p50 µs", "A/B", "A p99 µs", "B p99 µs", "A/B")
    print("{:>4}  {:>8} {:>8} {:>6}   {:>9} {:>9} {:>6}".format(*head))
    ratios = {"p50": [], "p99": []}
    same_ratios = {"p50": [], "p99": []}
    for i, (a, b, same) in enumerate(rows, start=1):
        for k in ratios:
            ratios[k].append(a[k] / b[k])
            same_ratios[k].append(a[k] / same[k])
        print(
            f"{i:>4}  {a['p50']:8.1f} {b['p50']:8.1f} {a['p50'] / b['p50']:6.3f}   "
            f"{a['p99']:9.1f} {b['p99']:9.1f} {a['p99'] / b['p99']:6.3f}"
        )
    ok = True
    for k in ratios:
        med = statistics.median(ratios[k])
        inside = 0.95 <= med <= 1.05
        ok &= inside
        print(f"median ratio {k}: {med:.3f}  (target 0.95–1.05: {'met' if inside else 'MISSED'})")
    for k in same_ratios:
        print(
            f"same-run check {k}: kubenetlab / sockperf's own summary of the same samples = "
            f"{statistics.median(same_ratios[k]):.4f} (HDR 3 significant digits)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
