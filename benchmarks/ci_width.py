"""Does `--ci-width` deliver its width, and what does it cost, on a quiet and a loaded host?

Runs `kubenetlab compare --profiles native,vxlan --tests rr,crr --ci-width W
--max-repeats M` twice: on a quiet host, then with a CPU hog on the CPU the measurements
do not use (`stress-ng --cpu 1 --taskset N` where installed, else a Python busy loop
pinned there — the output says which). Prints, per condition, the rounds spent, the wall
time and each figure's achieved CI half-width (issue 23 item 13: a fixed repeat count gave
CVs of 0.8 % to 7.7 % in one run on a VM with steal).

    sudo .venv/bin/python benchmarks/ci_width.py [--ci-width 5] [--max-repeats 12] [--duration 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HOG = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def compare(args: argparse.Namespace) -> tuple[dict, float]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "compare", "--profiles", "native,vxlan",
         "--tests", "rr,crr", "--duration", str(args.duration), "--ci-width", str(args.ci_width),
         "--max-repeats", str(args.max_repeats), "-o", "json"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"compare failed: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout), time.monotonic() - started


def start_hog(cpu: int) -> tuple[subprocess.Popen, str]:
    if shutil.which("stress-ng"):
        argv = ["stress-ng", "--cpu", "1", "--taskset", str(cpu), "--timeout", "3600"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL), f"stress-ng --cpu 1 on CPU {cpu}"
    proc = subprocess.Popen([sys.executable, "-c", HOG, str(cpu)])
    return proc, f"a Python busy loop on CPU {cpu} (stress-ng is not installed)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci-width", type=float, default=5.0)
    parser.add_argument("--max-repeats", type=int, default=12)
    parser.add_argument("--duration", type=float, default=1.0)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    # rr/crr pin client and server to one CPU (--cpus same: the first); load the last.
    conditions = [("quiet", None), ("loaded", cpus[-1] if len(cpus) > 1 else None)]
    print(f"target: CI half-width ≤ {args.ci_width:g}% of the median, at most "
          f"{args.max_repeats} runs × {args.duration:g} s")  # fmt: skip
    for name, cpu in conditions:
        hog, what = (None, "nothing else running") if cpu is None else start_hog(cpu)
        try:
            doc, seconds = compare(args)
        finally:
            if hog is not None:
                hog.terminate()
                hog.wait()
        p = doc["precision"]
        tools = {r["test_name"]: r["tool"] for row in doc["rows"] for r in row["results"].values()}
        print(f"\n{name} ({what}): {p['runs']} runs, {seconds:.0f} s, "
              f"{len(p['missed'])} of {len(p['rows'])} figures missed; kubenetlab compare with "
              + ", ".join(f"{t}: {tool}" for t, tool in tools.items()))  # fmt: skip
        for row in p["rows"]:
            width = row["achieved_percent"]
            print(f"  {row['row']:<28} ±{width if width is not None else float('nan'):6.2f}%"
                  f"  {'met' if row['met'] else 'missed'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
