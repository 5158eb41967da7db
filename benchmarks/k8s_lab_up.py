"""How long a lab with the upstream control plane takes to come up and run pods, and what it
costs in memory (issue 25's targets: 3 nodes × 2 pods Ready ≤ 20 s; 50 × 10 ≤ 120 s).

    python benchmarks/k8s_lab_up.py [--nodes 3] [--pods-per-node 2] [--runs 3]

Per run: `lab up --control-plane kubernetes` (control plane + every kubelet Ready), then a
Deployment of nodes × pods-per-node replicas (python3 http.server behind a readiness probe,
spread by a topology constraint) applied with kubectl and timed until every replica is
Ready, then `lab down`. Memory: RSS of each control-plane process and of the kubelets
(with their pods running), from /proc/PID/status.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kubenetlab.controlplane import upstream
from kubenetlab.kernel.ledger import Ledger

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: %d
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
           labelSelector: {matchLabels: {app: bench}}}
      containers:
        - name: web
          image: python:3
          args: ["-m", "http.server", "8080"]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
"""


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "kubenetlab", *args], capture_output=True,
                         text=True, timeout=900)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"kubenetlab {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([str(upstream.program("kubectl")), "--kubeconfig", kubeconfig, *args],
                         input=stdin, capture_output=True, text=True, timeout=120)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_run(name: str, nodes: int, per_node: int) -> dict[str, float]:
    started = time.monotonic()
    cli("lab", "up", "--name", name, "--control-plane", "kubernetes", "--profile", "native",
        "--nodes", str(nodes), "--pods-per-node", "0")  # fmt: skip
    up = time.monotonic() - started
    try:
        kubeconfig = cli("lab", "kubeconfig", name).strip()
        replicas = nodes * per_node
        applied = time.monotonic()
        kubectl(kubeconfig, "apply", "-f", "-", stdin=DEPLOYMENT % replicas)
        while True:
            doc = json.loads(kubectl(kubeconfig, "get", "deployment", "bench", "-o", "json"))
            if doc.get("status", {}).get("readyReplicas") == replicas:
                break
            if time.monotonic() - applied > 600:
                raise SystemExit(f"{replicas} replicas not Ready in 600 s")
            time.sleep(0.2)
        pods_ready = time.monotonic() - applied
        ledger = Ledger.load(name)
        assert ledger is not None
        memory: dict[str, list[float]] = {}
        for p in ledger.processes:
            if p.pid:
                memory.setdefault(p.role, []).append(rss_mb(p.pid))
    finally:
        cli("lab", "down", name)
    return {
        "lab_up_s": up, "pods_ready_s": pods_ready, "total_s": up + pods_ready,
        "control_plane_mb": sum(sum(memory.get(r, [])) for r in (
            "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")),
        "apiserver_mb": sum(memory.get("kube-apiserver", [])),
        "kubelet_mb_each": statistics.median(memory.get("kubelet", [0.0])),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pods-per-node", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(f"bk{i}", args.nodes, args.pods_per_node) for i in range(args.runs)]
    print(f"{args.nodes} nodes × {args.pods_per_node} pods, {args.runs} runs (median, min–max):")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:<18} {statistics.median(values):8.2f}   "
              f"({min(values):.2f}–{max(values):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
