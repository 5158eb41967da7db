""" "30% of the CPU was burned just processing iptables rules": CPU per connection to the
first and the last of N Services (`scenario service-scale`), per proxy."""

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


def judge(evidence: Evidence) -> Verdict:
    doc = evidence.get("service-scale") or {}
    rows = doc.get("rows", [])
    # kube-proxy's default iptables mode (iptables-nft where present), else iptables-legacy.
    proxy = next(
        (p for p in ("iptables", "iptables-legacy") if any(r["proxy"] == p for r in rows)), ""
    )
    ipt = sorted((r for r in rows if r["proxy"] == proxy), key=lambda r: r["services"])
    if not ipt or _share(ipt[-1]) is None:
        return not_measured(("service-scale",), "No iptables rows with CPU figures.")
    big = ipt[-1]
    share = _share(big)
    over = [r for r in ipt if (_share(r) or 0) >= ARTICLE_SHARE]
    text = (
        f"With {big['services']:,} Services through kube-proxy's rules ({proxy}), a connection "
        f"to the last Service cost {fmt(big['crr_last']['cpu_us_per_txn'], 'µs CPU')} against "
        f"{fmt(big['crr_first']['cpu_us_per_txn'], 'µs CPU')} to the first: {share:.0f} % of "
        "that connection's CPU goes to walking KUBE-SERVICES (one rule per Service, matched in "
        "order; an average Service walks half of it). "
        f"Programming the {big['rule_lines']:,} rule lines took {big['program_seconds']:.1f} s "
        "of iptables-restore, repeated on every sync."
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
    ("service-scale",),
    judge,
)
