""" "Overlay networks hurt throughput": TCP_STREAM over VXLAN against direct routing (BGP)."""

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

OVERLAY = ("flannel", "vxlan")  # a VXLAN data path, by compare profile name
DIRECT = ("calico-bgp", "bgp", "native", "cilium")  # direct routing, BGP first


def judge(evidence: Evidence) -> Verdict:
    rows = compare_rows(evidence)
    overlay = next((p for p in OVERLAY if result(rows, p, "stream")), None)
    direct = next((p for p in DIRECT if result(rows, p, "stream")), None)
    if not overlay or not direct:
        return not_measured(
            ("compare",),
            "The compare result has no TCP_STREAM for both a "
            "VXLAN profile (flannel) and a direct-routing one (calico-bgp).",
        )
    o, d = result(rows, overlay, "stream"), result(rows, direct, "stream")
    og, dg = estimate(o, "gbps"), estimate(d, "gbps")
    oc, dc = estimate(o, "cpu_s_per_gb"), estimate(d, "cpu_s_per_gb")
    tool = o.get("tool", "")
    drop = -change(og["median"], dg["median"])
    cpu = f" and costs {change(oc['median'], dc['median']):+.0f} % CPU per GB" if oc and dc else ""
    text = (
        f"Between pods on two nodes, {overlay} (VXLAN) moved {fmt(og, 'Gbit/s', 2)} and "
        f"{direct} (direct routing) {fmt(dg, 'Gbit/s', 2)}: the overlay carries {drop:.0f} % "
        f"less{cpu}. Every packet gains 50 bytes and a pass through the VXLAN device on both "
        "nodes; on one host the wire is free, so what remains is that per-packet work."
    )
    condition = ""
    if separated(og, dg) and og["median"] < dg["median"]:
        status = "reproduced"
    elif separated(og, dg):
        status, text = "not reproduced", text + " The overlay was faster here."
    else:
        status, condition = "depends", "more runs (the intervals overlap)"
        text += " The intervals overlap: this run cannot tell the difference from noise."
    chart = bars(
        "TCP_STREAM between pods on two nodes",
        "Gbit/s",
        [(p, estimate(result(rows, p, "stream"), "gbps")) for p in rows],
        "median, CI",
    )
    figures = [
        Figure(
            f"{p} TCP_STREAM",
            fmt(estimate(result(rows, p, "stream"), "gbps"), "Gbit/s", 2),
            (result(rows, p, "stream") or {}).get("tool", tool),
        )
        for p in rows
        if result(rows, p, "stream")
    ]
    text += _profile_hops(rows, overlay, direct, figures) or _hops(evidence, figures)
    return Verdict(status, text, figures, chart, condition)


def _profile_hops(rows: dict, overlay: str, direct: str, figures: list[Figure]) -> str:
    """compare --trace: the two profiles' one-way paths, hop by hop, from the same run."""
    paths = {
        p: ((rows[p].get("trace") or {}).get("directions") or {}).get("request")
        for p in (overlay, direct)
    }
    if not all(paths.values()):
        return ""
    total = {p: sum(h["p50_us"] for h in hops[1:]) for p, hops in paths.items()}
    tunnel = [h for h in paths[overlay] if "vxlan" in h["hop"] or "ipip" in h["hop"]]
    for p, hops in paths.items():
        figures.append(Figure(f"{p}: one way pod → pod, sum of hop p50s ({len(hops) - 1} hops)",
                              f"{total[p]:.1f} µs, {max(h['wire_bytes'] or 0 for h in hops)} B on the wire",
                              "kubenetlab trace (compare --trace)"))  # fmt: skip
    at_tunnel = ", ".join(f"{h['hop']} {h['p50_us']:.1f} µs" for h in tunnel)
    return (
        f" Traced hop by hop in the same run: one way, {overlay} takes {total[overlay]:.1f} µs over "
        f"{len(paths[overlay]) - 1} crossings and {direct} {total[direct]:.1f} µs over "
        f"{len(paths[direct]) - 1}; the overlay's extra {total[overlay] - total[direct]:.1f} µs "
        f"per packet sit at its tunnel device ({at_tunnel})"
        " and in the encapsulated hops after it."
    )


def _hops(evidence: Evidence, figures: list[Figure]) -> str:
    """Where the overlay's bytes and microseconds appear, from `kubenetlab trace`."""
    doc = evidence.get("trace")
    hops = (doc or {}).get("directions", {}).get("request", [])
    sizes = [h["wire_bytes"] for h in hops if h.get("wire_bytes")]
    if not sizes:
        return ""
    tool = "kubenetlab trace (bpf_ktime_get_ns at tcx)"
    for h in hops[1:]:
        figures.append(Figure(f"trace {h['hop']}", f"{h['p50_us']:.2f} µs p50, "
                              f"{h['p99_us']:.2f} µs p99, {h['wire_bytes']} B", tool))  # fmt: skip
    vxlan = [h for h in hops if "vxlan" in h["hop"]]
    grown = next((h for h in hops if h.get("wire_bytes") == max(sizes)), hops[0])
    text = (
        f" Traced hop by hop ({doc['from']} → {doc['to']}, {doc['probes']} probes): the packet "
        f"grows from {min(sizes)} B to {max(sizes)} B at {grown['hop']}"
    )
    if vxlan:
        spent = sum(h["p50_us"] for h in vxlan)
        text += f", and the VXLAN device crossings take {spent:.1f} µs p50 of the one-way path"
    return text + "."


CLAIM = Claim(
    "overlay-throughput",
    "Overlay networks hurt throughput",
    "We are going to look at why overlay networks hurt throughput … aim for Direct Routing (BGP). "
    "This removes the encapsulation overhead entirely.",
    ("compare",),
    judge,
)
