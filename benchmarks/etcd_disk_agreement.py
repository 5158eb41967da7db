"""Does the builtin engine of `kubenetlab etcd disk` agree with fio on the same directory?

3 interleaved pairs (fio, builtin) with the same size and block size; prints each pair's
fdatasync p50/p99 and the median p99 ratio builtin / fio (target 0.85–1.15).

    sudo .venv/bin/python benchmarks/etcd_disk_agreement.py [--dir .] [--size 22m] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics

from kubenetlab.bench.etcd_disk import measure, parse_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".")
    parser.add_argument("--size", default="22m")
    parser.add_argument("--bs", type=int, default=2300)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    size = parse_size(args.size)
    ratios = []
    print(f"fdatasync after each {args.bs}-byte write, {args.size} per run, in {args.dir}")
    print(
        f"{'pair':>4}  {'fio p50':>8} {'fio p99':>8}  {'builtin p50':>11} {'builtin p99':>11}  ratio"
    )
    for i in range(1, args.pairs + 1):
        fio = measure(args.dir, size, args.bs, "fio").latency_us
        own = measure(args.dir, size, args.bs, "builtin").latency_us
        ratios.append(own["p99"] / fio["p99"])
        print(
            f"{i:>4}  {fio['p50']:8.1f} {fio['p99']:8.1f}  {own['p50']:11.1f} {own['p99']:11.1f}"
            f"  {ratios[-1]:.3f}   (µs)"
        )
    med = statistics.median(ratios)
    inside = 0.85 <= med <= 1.15
    print(
        f"median p99 ratio builtin/fio: {med:.3f} (target 0.85–1.15: {'met' if inside else 'MISSED'})"
    )
    return 0 if inside else 1


if __name__ == "__main__":
    raise SystemExit(main())
