"""Human tables for stdout (rich), one function per kind of document."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

# Piped output keeps whole tables (rich would otherwise cut them to 80 columns).
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def print_lab_status(doc: dict[str, Any]) -> None:
    opts = ", ".join(f"{k}={v}" for k, v in doc.get("profile_options", {}).items())
    # Short lines: the status fits an 80-column terminal.
    stdout.print(
        f"lab [bold]{doc['name']}[/]  state {doc['state']}  health {doc['health']}",
        highlight=False,
    )
    stdout.print(
        f"profile {doc['profile']}{f' ({opts})' if opts else ''}  "
        f"underlay MTU {doc['underlay_mtu']}  pod MTU {doc['pod_mtu']}",
        highlight=False,
    )
    proxy = doc.get("proxy_implementation") or doc.get("proxy")
    stdout.print(f"service proxy: {proxy or 'none (pod-to-pod only)'}", highlight=False)
    if doc.get("missing_netns"):
        stdout.print(f"missing namespaces: {', '.join(doc['missing_netns'])}", highlight=False)
    nodes = Table("node", "underlay IP", "pod CIDR", "netns", box=None, pad_edge=False)
    for n in doc["nodes"]:
        nodes.add_row(n["name"], n["underlay_ip"], n["pod_cidr"], n["netns"])
    stdout.print(nodes)
    pods = Table("pod", "node", "IP", "netns", box=None, pad_edge=False)
    for p in doc["pods"]:
        pods.add_row(p["name"], p["node"], p["ip"], p["netns"])
    stdout.print(pods)
    if doc.get("processes"):
        table = Table("pid", "role", "netns", "alive", "command", box=None, pad_edge=False)
        for p in doc["processes"]:
            table.add_row(
                str(p.get("pid")),
                p.get("role", ""),
                p["netns"],
                str(p["alive"]),
                " ".join(p["argv"]),
            )
        stdout.print(table)
    if doc.get("gateway"):
        gw = doc["gateway"]
        stdout.print(
            f"gateway {gw['ip']} ({gw['netns']}, nginx) serving HTTPRoutes: "
            f"{', '.join(doc.get('routes', [])) or 'none'}",
            highlight=False,
        )
    if doc.get("routing", {}).get("bgp"):
        _print_bgp(doc["routing"]["bgp"], doc.get("converged_seconds"))
    if doc.get("ebpf", {}).get("counters"):
        _print_ebpf(doc)
    if doc.get("control_plane"):
        _print_control_plane(doc["control_plane"])


def _print_ebpf(doc: dict[str, Any]) -> None:
    ebpf, opts = doc["ebpf"], doc.get("proxy_options") or {}
    mode = ", ".join(f"{k} {v}" for k, v in opts.items())
    stdout.print(
        f"eBPF service proxy{f' ({mode})' if mode else ''}: {ebpf['attachments']} program "
        "attachments; counters per node (lb4_stats, summed over CPUs)",
        highlight=False,
    )
    nodes = ebpf["counters"]
    names = sorted({k for c in nodes.values() for k in c})
    table = Table("node", *names, box=None, pad_edge=False)
    for node, counters in nodes.items():
        table.add_row(node, *(str(counters.get(k, 0)) for k in names))
    stdout.print(table)


def _print_kubernetes(k8s: dict[str, Any]) -> None:
    stdout.print(
        f"control plane: Kubernetes {k8s.get('version') or '?'} (upstream), API {k8s.get('api')}"
        f" at {k8s.get('address')}; from this host: kubectl --kubeconfig {k8s.get('kubeconfig')}",
        highlight=False,
    )
    table = Table("component", "state", "last log line", box=None, pad_edge=False)
    for role, alive in (k8s.get("processes") or {}).items():
        table.add_row(role, "running" if alive else "down", (k8s.get("down") or {}).get(role, ""))
    stdout.print(table)


def _print_kube_proxy(rows: list[dict[str, Any]]) -> None:
    version = rows[0].get("version", "?")
    stdout.print(f"kube-proxy {version} (upstream) on every node; syncs from its /metrics",
                 highlight=False)  # fmt: skip
    table = Table("node", "mode", "syncs", "full/partial", "last sync", "mean", "p99 ≤",
                  "pending", box=None, pad_edge=False)  # fmt: skip
    notes = []
    for r in rows:
        if not r.get("running") or "error" in r:
            table.add_row(r["node"], "down" if not r.get("running") else "?", *[""] * 6)
            notes.append(f"  {r['node']}: {r.get('error') or r.get('last_log_line', '')}")
            continue
        age = r.get("last_sync_age_seconds")
        mean, p99 = r.get("sync_seconds_mean"), r.get("sync_seconds_p99_bucket")
        table.add_row(
            r["node"], r.get("mode", "?"), str(r.get("syncs", 0)),
            f"{r.get('full_syncs', 0)}/{r.get('partial_syncs', 0)}",
            f"{age:.0f} s ago" if age is not None else "never",
            f"{mean * 1000:.1f} ms" if mean else "-",
            f"{p99 * 1000:.0f} ms" if p99 else "-", str(r.get("pending_changes", 0)),
        )  # fmt: skip
    stdout.print(table)
    for note in notes:
        stdout.print(note, highlight=False)


def _print_proxy_agents(rows: list[dict[str, Any]]) -> None:
    stdout.print("eBPF proxy agents (API clients) on every node", highlight=False)
    table = Table("node", "agent", "API", "syncs", "last sync", "map update", "services",
                  box=None, pad_edge=False)  # fmt: skip
    now = time.time()
    for r in rows:
        last = r.get("last_sync") or {}
        when = f"{now - r['applied_at']:.0f} s ago" if r.get("applied_at") else "never"
        table.add_row(
            r["node"], "running" if r.get("running") else "down", str(r.get("api", "?"))[:40],
            str(r.get("syncs", 0)), when,
            f"{last.get('seconds', 0) * 1000:.2f} ms ({last.get('mode', '-')})" if last else "-",
            str(r.get("services", "-")),
        )  # fmt: skip
    stdout.print(table)
    for gap in dict.fromkeys(g for r in rows for g in r.get("unsupported") or []):
        stdout.print(f"  not programmed: {gap}", highlight=False)
    for r in rows:
        if not r.get("running"):
            stdout.print(f"  {r['node']}: {r.get('last_log_line', '')}", highlight=False)


def _print_control_plane(cp: dict[str, Any]) -> None:
    if cp.get("kubernetes"):
        _print_kubernetes(cp["kubernetes"])
        if cp.get("kubelets"):
            table = Table("node", "kubelet", "Ready", "last log line", box=None, pad_edge=False)
            for k in cp["kubelets"]:
                table.add_row(k["node"], k["kubelet"], str(k["ready"]), k.get("last_log_line", ""))
            stdout.print(table)
        if cp.get("kube_proxy"):
            _print_kube_proxy(cp["kube_proxy"])
        if cp.get("proxy_agents"):
            _print_proxy_agents(cp["proxy_agents"])
        return
    etcd = cp.get("etcd") or {}
    revision = f", revision {etcd['revision']}" if "revision" in etcd else ""
    stdout.print(f"control plane: etcd {etcd.get('health', 'unknown')}{revision}", highlight=False)
    agents = cp.get("agents") or []
    if agents:
        table = Table("node agent", "etcd", "received revision", "applied revision",
                      box=None, pad_edge=False)  # fmt: skip
        for a in agents:
            table.add_row(
                a.get("node", "?"), str(a.get("etcd", "unknown")),
                str(a.get("received_revision", "-")), str(a.get("applied_revision", 0)),
            )  # fmt: skip
        stdout.print(table)


def _print_bgp(nodes: list[dict[str, Any]], converged: float | None) -> None:
    when = f"; routes converged {converged:.2f} s after BIRD started" if converged else ""
    stdout.print(f"BGP sessions (birdc show protocols){when}", highlight=False)
    sessions = Table("node", "peer", "state", "info", "since", box=None, pad_edge=False)
    for n in nodes:
        for s in n["sessions"]:
            sessions.add_row(n["node"], s["peer"], s["state"], s["info"], s["since"])
    stdout.print(sessions)
    stdout.print("routes BIRD installed in the kernel", highlight=False)
    routes = Table("node", "destination", "via", "proto", box=None, pad_edge=False)
    for n in nodes:
        for r in n["routes"]:
            routes.add_row(n["node"], r["dst"], str(r["via"]), r["proto"])
    stdout.print(routes)


def print_lab_list(docs: list[dict[str, Any]]) -> None:
    if not docs:
        stdout.print("no lab is up")
        return
    table = Table("lab", "state", "health", "profile", "nodes", "pods", "pod MTU", box=None)
    for d in docs:
        table.add_row(
            d["name"],
            d["state"],
            d["health"],
            str(d["profile"]),
            str(len(d["nodes"])),
            str(len(d["pods"])),
            str(d["pod_mtu"]),
        )
    stdout.print(table)


def print_host_check(doc: dict[str, Any]) -> None:
    colours = {"pass": "green", "warn": "yellow", "fail": "bold red"}
    table = Table("", "check", "value", "why it matters / fix", box=None, pad_edge=False)
    for c in doc["checks"]:
        why = c["detail"] + (f"\n[dim]fix:[/] {c['fix']}" if c["fix"] else "")
        table.add_row(f"[{colours[c['status']]}]{c['status']}[/]", c["item"], c["value"], why)
    stdout.print(table)
    s = doc["summary"]
    stdout.print(f"{s['pass']} pass, {s['warn']} warn, {s['fail']} fail", highlight=False)


def print_locality(doc: dict[str, Any]) -> None:
    table = Table("", "host", "address", "country", "RTT ms", "note", box=None, pad_edge=False)
    for a in doc["addresses"]:
        mark = "[green]pass[/]" if a["status"] == "pass" else f"[bold red]{a['status']}[/]"
        where = f"{a['country']} {a['country_name']}" if a["country"] else a["country_name"]
        rtt = f"{a['rtt_ms']:.2f}" if a["rtt_ms"] is not None else "-"
        table.add_row(mark, a["host"], a["address"] or "-", where or "-", rtt, a["note"])
    stdout.print(table)
    db = doc["database"]
    allowed = "EEA" if len(doc["allowed"]) == 30 else ", ".join(doc["allowed"])
    stdout.print(
        f"{doc['flagged']} flagged; allowed: {allowed}; countries from {db['tool']}: "
        f"{db['source']} (built {db['built']}); resolver: {doc['resolver']}"
        + (f"; RTT: {doc['rtt']}" if doc["rtt"] else ""),
        highlight=False,
    )
