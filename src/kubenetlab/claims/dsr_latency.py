""" "DSR … cuts latency significantly": NodePort TCP_RR through the eBPF proxy in SNAT mode
(`cilium`) against DSR (`cilium-dsr`), from an external client, backend on another node."""

from __future__ import annotations

from kubenetlab.claims import (
    Claim,
    Evidence,
    Figure,
    Verdict,
    bars,
    change,
    compare_rows,
    estimate,
    fmt,
    not_measured,
    result,
    separated,
)

SIGNIFICANT = 10.0  # percent: what "significantly" is taken to mean


def judge(evidence: Evidence) -> Verdict:
    rows = compare_rows(evidence)
    snat, dsr = result(rows, "cilium", "rr_nodeport"), result(rows, "cilium-dsr", "rr_nodeport")
    if not snat or not dsr:
        return not_measured(("compare",), "Run compare with both `cilium` and `cilium-dsr`.")
    figures, parts = [], []
    verdicts = {}
    for q in ("p50", "p99"):
        s, d = estimate(snat, q), estimate(dsr, q)
        cut = -change(d["median"], s["median"])
        verdicts[q] = (separated(s, d) and d["median"] < s["median"], cut)
        parts.append(f"{q} {fmt(s, 'µs')} with SNAT, {fmt(d, 'µs')} with DSR ({cut:+.0f} % cut)")
        figures += [
            Figure(f"cilium NodePort TCP_RR {q}", fmt(s, "µs"), snat.get("tool", "")),
            Figure(f"cilium-dsr NodePort TCP_RR {q}", fmt(d, "µs"), dsr.get("tool", "")),
        ]
    text = (
        "An external client's TCP_RR to node1's NodePort, the backend on node2: "
        + "; ".join(parts)
        + ". With DSR the reply leaves node2 straight to the client, "
        "skipping node1's reverse translation and one fabric crossing."
    )
    clear, cut = verdicts["p50"]
    if clear and cut >= SIGNIFICANT:
        status, condition = "reproduced", ""
    elif clear:
        status, condition = "depends", "what 'significantly' means"
        text += (
            f" Measurable, but below {SIGNIFICANT:.0f} %: on one host the skipped hop costs little."
        )
    elif cut > 0:
        status, condition = "depends", "more runs (the intervals overlap)"
        text += " The intervals overlap: this run cannot tell the difference from noise."
    else:
        status, condition = "not reproduced", ""
        text += " DSR was no faster here."
    chart = bars(
        "NodePort TCP_RR p50 (external client → node1 → pod on node2)",
        "µs",
        [("cilium (SNAT)", estimate(snat, "p50")), ("cilium-dsr", estimate(dsr, "p50"))],
        "median, CI",
    )
    return Verdict(status, text, figures, chart, condition)


CLAIM = Claim(
    "dsr-latency",
    "DSR cuts latency",
    "Note the loadBalancer.mode=dsr (Direct Server Return). This allows the backend pod to reply "
    "directly to the client without passing back through the load balancer node. This cuts "
    "latency significantly.",
    ("compare",),
    judge,
)
