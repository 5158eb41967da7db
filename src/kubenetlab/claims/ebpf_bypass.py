""" "Cilium … uses eBPF to bypass the slowness of iptables": connections to a ClusterIP
(`compare`'s crr_service) and how each proxy's cost grows with the Service count
(`scenario service-scale`)."""

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

IPTABLES_PROFILES = ("flannel", "calico-ipip", "calico-bgp")


def judge(evidence: Evidence) -> Verdict:
    rows = compare_rows(evidence)
    ebpf = result(rows, "cilium", "crr_service")
    parts, figures, wins, losses = [], [], 0, 0
    if ebpf:
        e = estimate(ebpf, "p50")
        parts.append(
            f"A new connection to a ClusterIP (TCP_CRR) through cilium's socket LB: {fmt(e, 'µs')} p50"
        )
        figures.append(Figure("cilium ClusterIP TCP_CRR p50", fmt(e, "µs"), ebpf.get("tool", "")))
        for p in IPTABLES_PROFILES:
            other = result(rows, p, "crr_service")
            if not other:
                continue
            o = estimate(other, "p50")
            figures.append(
                Figure(f"{p} ClusterIP TCP_CRR p50", fmt(o, "µs"), other.get("tool", ""))
            )
            faster = separated(e, o) and e["median"] < o["median"]
            wins += faster
            losses += not faster
            parts.append(
                f"{p} (iptables) {fmt(o, 'µs')} ({change(e['median'], o['median']):+.0f} %)"
            )
    scale = _scale(evidence, figures)
    if not parts and not scale:
        return not_measured(("compare", "service-scale"))
    text = "; ".join(parts) + (". " if parts else "") + scale
    text += (
        " The socket LB translates the address once, at connect(), so the packets carry "
        "the backend's address and meet no NAT rule on the way."
    )
    status = (
        "reproduced"
        if wins and not losses
        else "not reproduced"
        if losses and not wins
        else "depends"
    )
    chart = bars(
        "New connection to a ClusterIP (TCP_CRR p50)",
        "µs",
        [
            (p, estimate(result(rows, p, "crr_service"), "p50"))
            for p in ("cilium", *IPTABLES_PROFILES)
        ],
        "median, CI",
    )
    return Verdict(
        status, text, figures, chart, "the profile compared" if status == "depends" else ""
    )


def _scale(evidence: Evidence, figures: list[Figure]) -> str:
    doc = evidence.get("service-scale") or {}
    rows = doc.get("rows", [])
    if not rows:
        return ""
    n = max(r["services"] for r in rows)
    out = []
    for r in (r for r in rows if r["services"] == n):
        out.append(
            f"{r['proxy']} {r['last_minus_first_p50_us']:+.1f} µs, programmed in {r['program_seconds']:.2f} s"
        )
        figures.append(
            Figure(
                f"{r['proxy']} at {n:,} Services: last − first Service p50",
                f"{r['last_minus_first_p50_us']:+.1f} µs",
                r.get("tool", ""),
            )
        )
    return (
        f"At {n:,} Services, the last Service's extra connection latency over the first: "
        + "; ".join(out)
        + "."
    )


CLAIM = Claim(
    "ebpf-bypass",
    "eBPF bypasses the slowness of iptables",
    "In 2025, Cilium is the de facto standard CNI. It uses eBPF to bypass the slowness of iptables.",
    ("compare", "service-scale"),
    judge,
)
