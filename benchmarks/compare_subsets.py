"""Every `--tests` combination a user can ask `compare` for, on every stack with a service proxy.

A combination's tests share one lab and run one after the other, so one test can break
the next (issue 23 item 14: `--tests rr,crr` on cilium hung while `rr` and `crr` alone
passed — the kernel had picked source port 30080 for a TCP_CRR connection). This runs
`kubenetlab compare --tests SUBSET --repeats 1` for each of the 31 non-empty subsets of
rr,crr,stream,udp_rr,udp_stream with every available stack that has a proxy in one
invocation, and checks the exit code and that every requested cell (and the service
proxy's cells) holds a figure. Prints one line per subset and a summary; exit 1 if any
failed. Takes about 25 minutes on 2 vCPUs.

    sudo .venv/bin/python benchmarks/compare_subsets.py [--profiles flannel,calico-bgp,cilium,cilium-dsr]
        [--duration 1] [--control-plane kubernetes]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time

TESTS = ("rr", "crr", "stream", "udp_rr", "udp_stream")
PROXIED = "flannel,calico-ipip,calico-bgp,cilium,cilium-dsr"


def run(subset: tuple[str, ...], args: argparse.Namespace) -> tuple[str, float]:
    """'ok' or what went wrong, and the seconds it took."""
    argv = [sys.executable, "-m", "kubenetlab", "compare", "--profiles", args.profiles,
            "--tests", ",".join(subset), "--repeats", "1", "--duration", str(args.duration),
            "-o", "json"]  # fmt: skip
    if args.control_plane:
        argv += ["--control-plane", args.control_plane]
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    took = time.monotonic() - started
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}", took
    doc = json.loads(out.stdout)
    missing = []
    for row in doc["rows"]:
        if not row["measured"]:
            continue  # a stack this host cannot build (the row says why)
        wanted = list(subset)
        if row.get("proxy"):
            wanted += ["crr_service"] if "crr" in subset else []
            wanted += ["rr_nodeport"] if "rr" in subset else []
        missing += [f"{row['profile']}/{t}" for t in wanted if t not in row["results"]]
    return ("ok" if not missing else "no figure for " + ", ".join(missing)), took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default=PROXIED)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--control-plane", choices=("kubernetes",))
    args = parser.parse_args()
    subsets = [s for n in range(1, len(TESTS) + 1) for s in itertools.combinations(TESTS, n)]
    upstream = " (upstream control plane)" if args.control_plane else ""
    print(
        f"{len(subsets)} subsets × profiles {args.profiles}{upstream}, 1 run × {args.duration:g} s"
    )
    failed = 0
    for subset in subsets:
        verdict, took = run(subset, args)
        failed += verdict != "ok"
        print(f"  {','.join(subset):<32} {took:6.1f} s  {verdict}", flush=True)
    print(f"{len(subsets) - failed} of {len(subsets)} subsets passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
