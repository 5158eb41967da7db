"""Network-programming latency on a Kubernetes lab, per proxy and cluster size: the time
from `kubectl apply` of a Service (with its EndpointSlice) to the first connection to its
ClusterIP answered from a pod — with N Services already programmed — and the proxy's own
account of it (issue 26's benchmark).

    python benchmarks/network_programming.py [--proxies iptables,nftables,ebpf]
        [--services 100,1000] [--probes 5] [--min-sync-period 1s] [-o table|json]

Per proxy × N: `lab up --control-plane kubernetes --proxy P` (2 nodes × 2 pods, one spec
Service whose pods run the lab's backend), N − 1 more selector-less Services + EndpointSlices
on the same pods created through the API with the official client (how long the API took
to accept them is printed), a wait until every node's proxy has synced them, then per probe:
a prober in node2-pod2 already connecting (10 ms connect timeout, a new SYN every ~12 ms)
to a ClusterIP chosen in advance, and the Service + EndpointSlice written to the API (what
`kubectl apply` does, without its process start-up); the time from the write to the first
answer. Printed: that time's median and max; for the upstream kube-proxy,
`kubeproxy_network_programming_duration_seconds` (ClusterLoader2's network programming
latency: from the EndpointSlice's last-change-trigger time to the rules being written) and
`kubeproxy_sync_proxy_rules_duration_seconds` means over the probes; for the eBPF agents,
their map-update time; and the RSS of one kube-proxy (or agent).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kubenetlab.components.kubeproxy import metrics, metrics_text
from kubenetlab.components.proxyagents import read_status
from kubenetlab.controlplane.objects import api_client
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.live import attach
from kubenetlab.scenarios import api_services

PROBE = """
import socket, sys, time
ip = sys.argv[1]
print("ready", flush=True)
deadline = time.time() + 60
while time.time() < deadline:
    try:
        s = socket.create_connection((ip, 80), timeout=0.01)
        s.settimeout(2); s.sendall(b"?"); s.recv(100); s.close()
        print(time.time(), flush=True); sys.exit(0)
    except OSError:
        time.sleep(0.002)
sys.exit(1)
"""


def cli(*args: str, timeout: float = 900) -> str:
    out = subprocess.run([sys.executable, "-m", "kubenetlab", *args], capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"kubenetlab {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _objects(
    name: str, pods: list[tuple[str, str]], cluster_ip: str | None = None
) -> tuple[dict, dict]:
    """A selector-less Service (at a ClusterIP chosen in advance) and its EndpointSlice,
    stamped as the EndpointSlice controller stamps its own."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                    **({"clusterIP": cluster_ip} if cluster_ip else {})}}  # fmt: skip
    return svc, api_services.endpoint_slice(name, pods)


def _create_many(kubeconfig: Path, count: int, pods: list[tuple[str, str]]) -> float:
    started = time.monotonic()
    api_services.create(kubeconfig, [f"bulk-{i}" for i in range(count)], lambda _: pods)
    return time.monotonic() - started


def _wait_quiet(lab_name: str, proxy: str, seconds: float = 600) -> None:
    live = attach(lab_name)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proxy == "ebpf":
            ledger = Ledger.load(lab_name)
            assert ledger is not None
            rows = [read_status(ledger, n.name) for n in live.lab.nodes]
            counts = {r.get("services") for r in rows}
            if len(counts) == 1 and None not in counts and time.time() - max(
                r.get("applied_at", 0) for r in rows
            ) > 2:
                return
        elif all(m.pending == 0 for m in (metrics(n) for n in live.lab.nodes)):
            time.sleep(1.5)
            if all(m.pending == 0 for m in (metrics(n) for n in live.lab.nodes)):
                return
        time.sleep(0.5)
    raise SystemExit(f"{proxy}: the proxies did not settle in {seconds:.0f} s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _npl(text: str) -> tuple[float, int]:
    """(sum, count) of kubeproxy_network_programming_duration_seconds for IPv4."""
    from prometheus_client.parser import text_string_to_metric_families

    total, count = 0.0, 0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("ip_family", "IPv4") != "IPv4":
                continue
            if s.name == "kubeproxy_network_programming_duration_seconds_sum":
                total = s.value
            elif s.name == "kubeproxy_network_programming_duration_seconds_count":
                count = int(s.value)
    return total, count


def measure(proxy: str, services: int, probes: int, min_sync: str) -> dict:
    name = f"bnp-{proxy[:3]}"
    spec = Path(f"/tmp/{name}.yaml")
    spec.write_text("services:\n  - {name: web, port: 80, target_port: 8080, replicas: 3}\n")
    cli("lab", "up", "-f", str(spec), "--name", name, "--control-plane", "kubernetes",
        "--proxy", proxy, "--profile", "native", "--min-sync-period", min_sync)  # fmt: skip
    try:
        kubeconfig = Path(cli("lab", "kubeconfig", name).strip())
        live = attach(name)
        pods = [(str(p.ip), p.node) for p in live.lab.pods if p.name != "node2-pod2"]
        accepted = _create_many(kubeconfig, services - 1, pods)
        _wait_quiet(name, proxy)
        node = live.lab.nodes[1]
        before = [metrics(node), _npl(metrics_text(node))] if proxy != "ebpf" else None
        from kubernetes import client

        api = api_client(kubeconfig)
        core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
        latencies = []
        for i in range(probes):
            ip = f"10.96.250.{10 + i}"  # chosen, so the prober can wait on it before it exists
            prober = subprocess.Popen(
                [sys.executable, "-m", "kubenetlab", "lab", "exec", name, "node2-pod2", "--",
                 sys.executable, "-c", PROBE, ip], stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert prober.stdout is not None and prober.stdout.readline().strip() == "ready"
            svc, eps = _objects(f"probe-{i}", pods, ip)
            start = time.time()  # the API write, as `kubectl apply` makes it
            core.create_namespaced_service("default", svc)
            discovery.create_namespaced_endpoint_slice("default", eps)
            answered = prober.stdout.readline().strip()
            if prober.wait(timeout=90) != 0 or not answered:
                raise SystemExit(f"{proxy}: probe-{i} at {ip} never answered")
            latencies.append(float(answered) - start)
            time.sleep(1.1)  # outside the last sync's minSyncPeriod: each probe alone
        api.close()
        ledger = Ledger.load(name)
        assert ledger is not None
        row = {"proxy": proxy, "services": services, "min_sync": min_sync,
               "api_accept_seconds": round(accepted, 1),
               "apply_to_answer_p50_ms": round(statistics.median(latencies) * 1000, 1),
               "apply_to_answer_max_ms": round(max(latencies) * 1000, 1)}  # fmt: skip
        if before is not None:
            after = metrics(node)
            npl_sum, npl_count = _npl(metrics_text(node))
            _syncs, mean, _kind = after.since(before[0])
            row["kube_proxy_sync_mean_ms"] = round(mean * 1000, 1)
            row["network_programming_mean_ms"] = round(
                (npl_sum - before[1][0]) / max(1, npl_count - before[1][1]) * 1000, 1
            )
            [kp] = [p for p in ledger.processes if p.role == "kube-proxy" and p.netns == node.netns]
            row["proxy_rss_mb"] = round(_rss_mb(kp.pid), 1)
        else:
            status = read_status(ledger, node.name)
            row["map_update_ms"] = round(status.get("last_sync", {}).get("seconds", 0) * 1000, 2)
            [agent] = [p for p in ledger.processes if p.role == "proxy-agent" and p.netns == node.netns]
            row["proxy_rss_mb"] = round(_rss_mb(agent.pid), 1)
        return row
    finally:
        cli("lab", "down", name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxies", default="iptables,nftables,ebpf")
    parser.add_argument("--services", default="100,1000")
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--min-sync-period", default="1s", help="kube-proxy's (and the agents')")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    args = parser.parse_args()
    rows = [measure(p, int(n), args.probes, args.min_sync_period)
            for n in args.services.split(",") for p in args.proxies.split(",")]  # fmt: skip
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("  ".join(keys))
    for r in rows:
        print("  ".join(str(r.get(k, "-")) for k in keys))


if __name__ == "__main__":
    main()
