"""How long BIRD takes to install every pod route, per BGP topology: the `converged_seconds`
that `kubenetlab lab up` reports, over several fresh labs (the real CLI each time).

    sudo .venv/bin/python benchmarks/bgp_convergence.py [--runs 10] [--nodes 4] [-o json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TOPOLOGIES = {"full mesh": {}, "route reflector node1": {"reflector": "node1"}}


def converge_once(nodes: int, options: dict[str, str]) -> float:
    spec = {
        "name": "bench-bgp",
        "profile": "bgp",
        "profile_options": options,
        "nodes": nodes,
        "pods_per_node": 1,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lab.yaml"
        path.write_text(json.dumps(spec))  # JSON is YAML
        cli = [sys.executable, "-m", "kubenetlab", "lab"]
        up = subprocess.run(
            [*cli, "up", "-f", str(path), "-o", "json"], capture_output=True, text=True
        )
        if up.returncode != 0:
            sys.exit(f"lab up failed: {up.stderr.strip()}")
        subprocess.run([*cli, "down", "bench-bgp"], capture_output=True, check=True)
    return float(json.loads(up.stdout)["converged_seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    args = parser.parse_args()
    results = {}
    for name, options in TOPOLOGIES.items():
        samples = [converge_once(args.nodes, options) for _ in range(args.runs)]
        results[name] = {
            "median_s": round(statistics.median(samples), 3),
            "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3),
            "runs": samples,
        }
    if args.output == "json":
        print(json.dumps({"nodes": args.nodes, "topologies": results}, indent=2))
        return 0
    print(
        f"BGP convergence, {args.nodes} nodes, {args.runs} fresh labs each (BIRD 2, kubenetlab lab up)"
    )
    for name, r in results.items():
        print(
            f"  {name:24} median {r['median_s']:.2f} s  (min {r['min_s']:.2f}, max {r['max_s']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
