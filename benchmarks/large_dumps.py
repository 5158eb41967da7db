"""How long `audit` and `proxy render` take on a cluster dump, and how much memory, by size
(issue 23 item 6: a `kind: List` of 4,000 Services + EndpointSlices did not finish).

    python benchmarks/large_dumps.py [--services 1000,10000,20000]

Per size: a `kubectl get svc,endpointslices -A -o yaml`-shaped `kind: List` (Services with
3 endpoints each) and the same as multi-document YAML; wall time and peak RSS of
`kubenetlab audit -f DUMP -o json` and `kubenetlab proxy render -f DUMP --node n1`, from
/usr/bin/time. The bound to hold: linear in size, under 5 s at 1,000 Services.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def objects(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": f"s{i}", "namespace": "default"},
                    "spec": {"clusterIP": f"10.{96 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}",
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})  # fmt: skip
        out.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": f"s{i}-1", "namespace": "default",
                                 "labels": {"kubernetes.io/service-name": f"s{i}"}},
                    "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                    "endpoints": [{"addresses": [f"10.244.{i % 200}.{j + 2}"], "nodeName": "n1"}
                                  for j in range(3)]})  # fmt: skip
    return out


def timed(*args: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one kubenetlab command."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "kubenetlab", *args],
                         capture_output=True, text=True, timeout=3600)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"kubenetlab {' '.join(args)}: {out.stderr.strip()[-300:]}")
    seconds, kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", default="1000,10000,20000")
    args = parser.parse_args()
    print(f"{'services':>8}  {'form':<9} {'MB':>6}  {'audit s':>8} {'audit MB':>8}  "
          f"{'render s':>8} {'render MB':>9}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.services.split(",")):
            items = objects(n)
            forms = {
                "List": yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}),
                "multi-doc": yaml.safe_dump_all(items),
            }
            for form, text in forms.items():
                path = Path(tmp) / f"{n}-{form}.yaml"
                path.write_text(text)
                audit = timed("audit", "-f", str(path), "-o", "json")
                render = timed("proxy", "render", "-f", str(path), "--node", "n1")
                print(f"{n:>8}  {form:<9} {len(text) / 1e6:>6.1f}  {audit[0]:>8.1f} {audit[1]:>8.0f}  "
                      f"{render[0]:>8.1f} {render[1]:>9.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
