"""The article's table: TCP_RR p99 between pods on different nodes, Flannel (VXLAN)
0.45 ms, Calico (IPIP) 0.38 ms, Cilium (eBPF native) 0.12 ms, CPU High / Medium / Low."""

from __future__ import annotations

from kubenetlab.claims import (
    Chart,
    Claim,
    Evidence,
    Figure,
    Series,
    Verdict,
    compare_rows,
    estimate,
    fmt,
    not_measured,
    result,
)

ARTICLE = {"flannel": (450.0, "High"), "calico-ipip": (380.0, "Medium"), "cilium": (120.0, "Low")}


def judge(evidence: Evidence) -> Verdict:
    rows = compare_rows(evidence)
    have = [p for p in ARTICLE if result(rows, p, "rr")]
    if len(have) < 2:
        return not_measured(
            ("compare",), "compare needs at least two of flannel, calico-ipip, cilium."
        )
    p99 = {p: estimate(result(rows, p, "rr"), "p99") for p in have}
    cpu = {p: estimate(result(rows, p, "rr"), "cpu_us_per_txn") for p in have}
    figures = [
        Figure(
            f"{p} TCP_RR p99 (article {ARTICLE[p][0] / 1000:.2f} ms)",
            fmt(p99[p], "µs"),
            result(rows, p, "rr").get("tool", ""),
        )
        for p in have
    ]
    figures += [
        Figure(
            f"{p} CPU per transaction (article: {ARTICLE[p][1]})",
            fmt(cpu[p], "µs"),
            "cgroup CPU of client and server + their softirq",
        )
        for p in have
        if cpu[p]
    ]
    article_order = sorted(have, key=lambda p: -ARTICLE[p][0])
    p99_order = sorted(have, key=lambda p: -p99[p]["median"])
    cpu_order = sorted((p for p in have if cpu[p]), key=lambda p: -cpu[p]["median"])
    base = have[-1]
    ratios = ", ".join(
        f"{p} ×{p99[p]['median'] / p99[base]['median']:.2f} (article ×{ARTICLE[p][0] / ARTICLE[base][0]:.2f})"
        for p in have
    )
    text = (
        f"p99 here, relative to {base}: {ratios}. Ranked by p99: {' > '.join(p99_order)}; by CPU "
        f"per transaction: {' > '.join(cpu_order)}; the article ranks {' > '.join(article_order)}. "
        "Absolute figures differ by design: one host, no NIC and no switch, so every path is "
        "tens of microseconds, not hundreds; what carries over is the order and the ratios."
    )
    missing = {
        r["profile"]: r.get("reason") or "not in the compare run"
        for r in (evidence.get("compare") or {}).get("rows", [])
        if r["profile"] in ARTICLE and r["profile"] not in have
    }
    for p in ARTICLE:
        if p not in have:
            text += f" {p} was not measured: {missing.get(p, 'not in the compare run')}."
    same = p99_order == article_order and cpu_order == article_order
    partly = p99_order == article_order or cpu_order == article_order
    status = "reproduced" if same else "depends" if partly else "not reproduced"
    chart = Chart(
        f"TCP_RR p99 relative to {base}",
        "×",
        have,
        [
            Series("article", [ARTICLE[p][0] / ARTICLE[base][0] for p in have]),
            Series("measured here", [p99[p]["median"] / p99[base]["median"] for p in have]),
        ],
    )
    return Verdict(
        status, text, figures, chart, "the metric (latency or CPU)" if status == "depends" else ""
    )


CLAIM = Claim(
    "cni-table",
    "The CNI latency table",
    "Flannel (VXLAN) 0.45 ms High · Calico (IPIP) 0.38 ms Medium · Cilium (eBPF Native) 0.12 ms "
    "Low (netperf TCP_RR P99, two pods on different nodes, CPU overhead)",
    ("compare",),
    judge,
)
