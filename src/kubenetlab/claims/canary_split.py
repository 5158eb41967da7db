"""The article's 90/10 HTTPRoute canary, served by a real gateway (`scenario canary`)."""

from __future__ import annotations

from kubenetlab.claims import Chart, Claim, Evidence, Figure, Series, Verdict


def judge(evidence: Evidence) -> Verdict:
    doc = evidence.get("canary") or {}
    backends = doc.get("backends", [])
    figures = [
        Figure(
            f"{b['backend']} (weight {b['weight']})",
            f"{100 * b['observed_share']:.1f} % observed, 95 % CI {100 * b['ci95'][0]:.1f}–"
            f"{100 * b['ci95'][1]:.1f} %, expected {100 * b['expected_share']:.1f} %",
            "kubenetlab.gateway.loadgen through nginx",
        )
        for b in backends
    ]
    passed = all(b["passed"] for b in backends) and doc.get("non_2xx", 0) == 0
    req = doc.get("request") or {}
    what = f"{req.get('method', 'GET')} {req.get('path', '/')}" if isinstance(req, dict) else req
    text = (
        f"{doc.get('requests', 0):,} requests ({what}) through the gateway "
        f"{req.get('gateway', '') if isinstance(req, dict) else ''}: "
        + "; ".join(
            f"{b['backend']} {100 * b['observed_share']:.1f} % (weight {b['weight']})"
            for b in backends
        )
        + f"; {doc.get('non_2xx', 0)} non-2xx. "
    )
    overhead = (doc.get("latency_us") or {}).get("gateway_overhead_p50_us")
    if overhead is not None:
        text += f"The gateway adds {overhead:.0f} µs p50 per new connection over going to the pod directly. "
    text += (
        "Each share's 95 % Wilson interval contains its weight's share."
        if passed
        else "A share fell outside its interval, or requests failed."
    )
    chart = Chart(
        "Canary split: share of requests",
        "%",
        [b["backend"] for b in backends],
        [
            Series("expected", [100 * b["expected_share"] for b in backends]),
            Series(
                "observed",
                [100 * b["observed_share"] for b in backends],
                [100 * b["ci95"][0] for b in backends],
                [100 * b["ci95"][1] for b in backends],
            ),
        ],
    )
    return Verdict("reproduced" if passed else "not reproduced", text, figures, chart)


CLAIM = Claim(
    "canary-split",
    "The 90/10 HTTPRoute canary",
    "For complex traffic splitting (crucial for canary deployments), the Gateway API is the "
    "standard … backendRefs: payment-service-v1 weight: 90, payment-service-v2 weight: 10",
    ("canary",),
    judge,
)
