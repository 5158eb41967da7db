""" "30% of the CPU was burned just processing iptables rules", in its two meanings:
the CPU kube-proxy and its iptables-restore runs burn while endpoints churn (`scenario
churn`, the upstream kube-proxy: what the sentence describes and what upstream's issues
measured), and the CPU a new connection spends walking KUBE-SERVICES to the first vs the
last of N Services (`scenario service-scale`). Churn decides the verdict when given."""

from __future__ import annotations

from kubenetlab.claims import (
    Chart,
    Claim,
    Evidence,
    Figure,
    Series,
    Verdict,
    fmt,
    not_measured,
)

ARTICLE_SHARE = 30.0


def _share(row: dict) -> float | None:
    first, last = row["crr_first"].get("cpu_us_per_txn"), row["crr_last"].get("cpu_us_per_txn")
    if not first or not last or not last["median"]:
        return None
    return 100 * (last["median"] - first["median"]) / last["median"]


IPTABLES = ("iptables", "iptables-legacy")  # kube-proxy's iptables mode (nft, legacy backend)


def judge(evidence: Evidence) -> Verdict:
    churn = evidence.get("churn")
    scale = _judge_scale(evidence.get("service-scale") or {})
    if churn and _churn_windows(churn):
        return _judge_churn(churn, scale)
    return scale


def _churn_windows(doc: dict) -> list[tuple[dict, dict]]:
    """(row, window) of every churn window with a proxy CPU figure."""
    return [
        (row, w)
        for row in doc.get("rows", [])
        for w in row.get("windows", [])
        if w.get("name") == "churn" and w.get("proxy_percent_of_core") is not None
    ]


def _judge_churn(doc: dict, scale: Verdict) -> Verdict:
    cpus = doc.get("cpus") or 1
    windows = _churn_windows(doc)
    ipt = [(r, w) for r, w in windows if r["proxy"] in IPTABLES]
    if not ipt:
        return not_measured(("churn",), "No iptables-mode kube-proxy in the churn result.")
    ipt.sort(key=lambda rw: (rw[0]["services"], rw[1]["achieved_rate"]))
    over_core = [(r, w) for r, w in ipt if w["proxy_percent_of_core"] >= ARTICLE_SHARE]
    over_node = [(r, w) for r, w in ipt if w["proxy_percent_of_core"] / cpus >= ARTICLE_SHARE]
    r, w = max(ipt, key=lambda rw: rw[1]["proxy_percent_of_core"])
    text = (
        f"The upstream kube-proxy ({r['implementation']}) with {r['services']:,} Services while "
        f"{w['achieved_rate']:g} EndpointSlices changed per second (minSyncPeriod "
        f"{r['min_sync_period']}): kube-proxy and its iptables-restore runs used "
        f"{w['proxy_percent_of_core']:.1f} % of one core on the busiest node "
        f"({w['proxy_percent_of_core'] / cpus:.1f} % of the node's {cpus} CPUs), in "
        f"{w.get('syncs') or 0} syncs (p99 {_fmt_ms(w.get('sync_p99_ms'))})."
    )
    same = [
        (r2, w2) for r2, w2 in windows
        if r2["proxy"] not in IPTABLES and r2["services"] == r["services"]
        and w2["asked_rate"] == w["asked_rate"]
    ]  # fmt: skip
    for r2, w2 in same:
        text += f" {r2['proxy']} at the same point: {w2['proxy_percent_of_core']:.1f} % of a core."
    if over_node:
        r0, w0 = over_node[0]
        status, condition = "reproduced", ""
        text += (f" From {r0['services']:,} Services at {w0['achieved_rate']:g} changes/s the "
                 f"proxy passes 30 % of the node's CPUs.")  # fmt: skip
    elif over_core:
        r0, w0 = over_core[0]
        status, condition = "depends", "whether 30 % means one core or the whole node"
        text += (f" It passes 30 % of one core from {r0['services']:,} Services at "
                 f"{w0['achieved_rate']:g} changes/s, not 30 % of this {cpus}-CPU node.")  # fmt: skip
    else:
        status, condition = "not reproduced", ""
        largest = max(r["services"] for r, _ in ipt)
        text += (f" Below 30 % of one core at every size (up to {largest:,} Services) and churn "
                 "rate measured here; each iptables sync rewrites the Service chains, so the "
                 "cost grows with the Service count: a larger cluster needs its own run "
                 "(`scenario churn --services 5000,10000`).")  # fmt: skip
    if scale.status == "not measured":
        text += (" The other meaning, the CPU a new connection spends walking KUBE-SERVICES, "
                 "is not measured: `kubenetlab scenario service-scale --report DIR`.")  # fmt: skip
    else:
        text += f" The other meaning, per connection: {scale.reasoning}"
    labels = [f"{r['proxy']} {r['services']:,} @{w['achieved_rate']:g}/s" for r, w in windows]
    chart = Chart(
        "Service proxy CPU under endpoint churn",
        "% of one core",
        labels,
        [Series("busiest node", [w["proxy_percent_of_core"] for _, w in windows])],
        threshold=ARTICLE_SHARE,
        threshold_label="30 %",
    )
    figures = [
        Figure(f"{r['proxy']}, {r['services']:,} Services, {w['achieved_rate']:g} changes/s",
               f"{w['proxy_percent_of_core']:.1f} % of a core", r.get("implementation") or "")
        for r, w in windows
    ] + scale.figures  # fmt: skip
    return Verdict(status, text, figures, chart, condition)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"≤ {value:g} ms"


def _judge_scale(doc: dict) -> Verdict:
    rows = doc.get("rows", [])
    # kube-proxy's default iptables mode (iptables-nft where present), else iptables-legacy.
    proxy = next(
        (p for p in ("iptables", "iptables-legacy") if any(r["proxy"] == p for r in rows)), ""
    )
    ipt = sorted((r for r in rows if r["proxy"] == proxy), key=lambda r: r["services"])
    if not ipt or _share(ipt[-1]) is None:
        return not_measured(("churn", "service-scale"), "No iptables rows with CPU figures.")
    big = ipt[-1]
    share = _share(big)
    over = [r for r in ipt if (_share(r) or 0) >= ARTICLE_SHARE]
    text = (
        f"With {big['services']:,} Services through kube-proxy's rules ({proxy}), a connection "
        f"to the last Service cost {fmt(big['crr_last']['cpu_us_per_txn'], 'µs CPU')} against "
        f"{fmt(big['crr_first']['cpu_us_per_txn'], 'µs CPU')} to the first: {share:.0f} % of "
        "that connection's CPU goes to walking KUBE-SERVICES (one rule per Service, matched in "
        "order; an average Service walks half of it). "
        + (f"Programming the {big['rule_lines']:,} rule lines took "
           if big.get("rule_lines") is not None else "Programming took ")
        + f"{big['program_seconds']:.1f} s of iptables-restore, repeated on every sync."
    )
    others = [
        r
        for r in rows
        if not r["proxy"].startswith("iptables") and r["services"] == big["services"]
    ]
    for r in others:
        s = _share(r)
        if s is not None:
            text += f" {r['proxy']} at the same size: {s:.0f} %, programmed in {r['program_seconds']:.2f} s."
    if over:
        status, condition = "reproduced", ""
        text += f" The share passes the article's 30 % from {over[0]['services']:,} Services."
    elif share >= 10:
        status, condition = "depends", "the number of Services"
        text += f" Below 30 % at the {big['services']:,} measured here, growing with the count."
    else:
        status, condition = "not reproduced", ""
    labels = [f"{r['proxy']} {r['services']:,}" for r in rows]
    chart = Chart(
        "CPU per connection: first vs last Service",
        "µs",
        labels,
        [
            Series(
                which,
                [(r[f"crr_{which}"].get("cpu_us_per_txn") or {}).get("median", 0.0) for r in rows],
            )
            for which in ("first", "last")
        ],
    )
    figures = [
        Figure(
            f"{r['proxy']}, {r['services']:,} Services: CPU share of the rule walk",
            f"{s:.1f} %" if (s := _share(r)) is not None else "n/a",
            r.get("tool", ""),
        )
        for r in rows
    ]
    return Verdict(status, text, figures, chart, condition)


CLAIM = Claim(
    "iptables-cpu",
    "iptables rule processing burns CPU",
    "I have debugged clusters where 30% of the CPU was burned just processing iptables rules.",
    ("churn", "service-scale"),
    judge,
)
