""" "externalTrafficPolicy: Local … preserves the client IP. However, if that node has no
pods for that service, the traffic is dropped" (`scenario etp`)."""

from __future__ import annotations

from kubenetlab.claims import Chart, Claim, Evidence, Figure, Series, Verdict


def judge(evidence: Evidence) -> Verdict:
    doc = evidence.get("etp") or {}
    rows = doc.get("rows", [])
    figures = [
        Figure(
            f"{r['proxy']}, {r['policy']}, NodePort on {r['node']} ({r['local_backends']} local backends)",
            f"{r['answered']}/{r['sent']} answered; backend saw "
            + (", ".join(f"{ip} ×{n}" for ip, n in r["sources_seen"].items()) or "nothing")
            + (f"; health check {r['health_check']}" if r.get("health_check") else ""),
            "kubenetlab echo backend (it answers with the peer address it saw)",
        )
        for r in rows
    ]
    local_kept = [r for r in rows if r["policy"] == "Local" and r["local_backends"]]
    local_dropped = [r for r in rows if r["policy"] == "Local" and not r["local_backends"]]
    cluster = [r for r in rows if r["policy"] == "Cluster"]
    kept = all(r["client_ip_kept"] and r["answered"] == r["sent"] for r in local_kept)
    dropped = all(r["answered"] == 0 for r in local_dropped)
    snat = all(not r["client_ip_kept"] for r in cluster if not r["local_backends"])
    kept_local = sorted(
        {r["proxy"] for r in cluster if r["local_backends"] and r["client_ip_kept"]}
    )
    proxies = sorted({r["proxy"] for r in rows})
    text = (
        f"From an external client ({doc.get('client_ip')}) to each node's NodePort, per proxy "
        f"({', '.join(proxies)}): with Local, the node holding a backend delivered "
        + (
            "every request with the client's address intact"
            if kept
            else "not every request with the client's address"
        )
        + "; the node without one "
        + ("answered none of them (dropped)" if dropped else "still answered some")
        + "; with Cluster the backend saw "
        + (
            "a node's address, not the client's (SNAT), when the backend is on another node"
            if snat
            else "the client's address even through a node without the backend"
        )
        + ". kube-proxy's health-check node port says which node to use: 200 where a backend "
        "is local, 503 where none is, so a load balancer that checks it never sends to the "
        "dropping node."
    )
    if kept_local:
        text += (
            f" One refinement of the article's 'by default … performs SNAT': with Cluster and "
            f"the backend on the receiving node, {', '.join(kept_local)} kept the client's address "
            "(Cilium's eBPF NodePort only translates the source when the reply would not come "
            "back through it); kube-proxy's rules masquerade all external NodePort traffic."
        )
    status = (
        "reproduced"
        if kept and dropped and snat and local_kept and local_dropped
        else "not reproduced"
    )
    labels = [f"{r['proxy']} {r['policy']} {r['node']}" for r in rows]
    chart = Chart(
        "NodePort requests answered, and with the client's address kept",
        "%",
        labels,
        [
            Series("answered", [100 * r["answered"] / max(r["sent"], 1) for r in rows]),
            Series(
                "client IP kept",
                [100.0 * r["client_ip_kept"] * r["answered"] / max(r["sent"], 1) for r in rows],
            ),
        ],
    )
    return Verdict(status, text, figures, chart)


CLAIM = Claim(
    "etp-local",
    "externalTrafficPolicy: Local keeps the client IP, and drops without pods",
    "When you set this in your Service definition, Kubernetes only routes traffic to pods on the "
    "specific node that received the traffic. It preserves the client IP. However, if that node "
    "has no pods for that service, the traffic is dropped.",
    ("etp",),
    judge,
)
