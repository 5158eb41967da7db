""" "If your 99th percentile fdatasync is over 10ms, your network updates will lag": endpoint
changes through a real etcd on disks of different fdatasync latency (`scenario
convergence`), and this host's own disk (`etcd disk`)."""

from __future__ import annotations

from typing import Any

from kubenetlab.claims import Chart, Claim, Evidence, Figure, Series, Verdict, not_measured

THRESHOLD_MS = 10.0
LAG_FACTOR = 2.0  # "lag": the time to traffic at least doubles


def judge(evidence: Evidence) -> Verdict:
    figures: list[Figure] = []
    disk = _disk(evidence, figures)
    rows = (evidence.get("convergence") or {}).get("rows", [])
    if not rows:
        return not_measured(("convergence",), disk)
    fast = [r for r in rows if _fsync_ms(r) is not None and _fsync_ms(r) < THRESHOLD_MS]
    slow = [r for r in rows if _fsync_ms(r) is not None and _fsync_ms(r) >= THRESHOLD_MS]
    for r in rows:
        figures.append(
            Figure(
                f"{r['proxy']} on {r['placement']}: fdatasync p99 / time to traffic p50, p99",
                f"{_fsync_ms(r):.2f} ms / {r['stages_ms']['traffic']['p50']:.1f} ms, "
                f"{r['stages_ms']['traffic']['p99']:.1f} ms",
                "etcd disk builtin (fdatasync); etcd put → first reply from the new backend",
            )
        )
    text = disk
    if not slow or not fast:
        return Verdict(
            "not measured",
            text + " The convergence result needs placements on both "
            "sides of 10 ms (tmpfs and slow).",
            figures,
        )
    lags = []
    for s in slow:
        base = next((f for f in fast if f["proxy"] == s["proxy"]), None)
        if base:
            ratio = s["stages_ms"]["traffic"]["p99"] / max(
                base["stages_ms"]["traffic"]["p99"], 1e-3
            )
            lags.append((s, base, ratio))
            text += (
                f" {s['proxy']}: with fdatasync p99 {_fsync_ms(s):.1f} ms ({s['placement']}) an "
                f"endpoint change reached traffic in {s['stages_ms']['traffic']['p99']:.1f} ms p99, "
                f"against {base['stages_ms']['traffic']['p99']:.1f} ms at {_fsync_ms(base):.2f} ms "
                f"({base['placement']}): ×{ratio:.1f}."
            )
    text += " Each change waits for etcd's WAL fdatasync before the watch delivers it."
    status = (
        "reproduced"
        if lags and all(r >= LAG_FACTOR for _, _, r in lags)
        else ("depends" if any(r >= LAG_FACTOR for _, _, r in lags) else "not reproduced")
    )
    labels = [f"{r['proxy']} {r['placement']}" for r in rows]
    chart = Chart(
        "Endpoint change to traffic, by etcd's fdatasync",
        "ms",
        labels,
        [
            Series("traffic p99", [r["stages_ms"]["traffic"]["p99"] for r in rows]),
            Series("fdatasync p99", [_fsync_ms(r) or 0.0 for r in rows]),
        ],
        THRESHOLD_MS,
        "10 ms",
    )
    return Verdict(status, text.strip(), figures, chart, "the proxy" if status == "depends" else "")


def _fsync_ms(row: dict[str, Any]) -> float | None:
    p99 = (row.get("fdatasync_us") or {}).get("p99")
    return p99 / 1000 if p99 is not None else None


def _disk(evidence: Evidence, figures: list[Figure]) -> str:
    doc = evidence.get("etcd-disk")
    if not doc:
        return ""
    p99 = doc["fdatasync_us"]["p99"] / 1000
    figures.append(
        Figure(
            f"this host's disk ({doc['directory']}, {doc['filesystem']}): fdatasync p99",
            f"{p99:.2f} ms",
            doc.get("engine", ""),
        )
    )
    verdict = "under" if p99 < THRESHOLD_MS else "over"
    where = f"{doc['directory']} ({doc['filesystem']})"
    return f"This host's {where}: fdatasync p99 {p99:.2f} ms, {verdict} 10 ms."


CLAIM = Claim(
    "etcd-fsync",
    "Slow fdatasync makes network updates lag",
    "If your 99th percentile fdatasync is over 10ms, your network updates will lag.",
    ("convergence", "etcd-disk"),
    judge,
)
