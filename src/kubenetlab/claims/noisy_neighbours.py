""" "Noisy neighbors and variable latency on oversold clouds": CPU steal on this host
(`host check`, and per run during `compare`) and how much the p99 moved between runs."""

from __future__ import annotations

from kubenetlab.claims import (
    Chart,
    Claim,
    Evidence,
    Figure,
    Series,
    Verdict,
    compare_rows,
    not_measured,
)

STEAL_NOISY = 2.0  # percent


def judge(evidence: Evidence) -> Verdict:
    host = evidence.get("host-check")
    rows = compare_rows(evidence)
    figures: list[Figure] = []
    steals: list[float] = []
    parts: list[str] = []
    if host:
        c = next(c for c in host["checks"] if c["item"] == "cpu steal")
        steals.append(float(c["value"].rstrip(" %")))
        parts.append(f"host check saw {c['value']} steal over {host['window_s']:g} s")
        figures.append(Figure("CPU steal (host check)", c["value"], "/proc/stat"))
    labels, p99_cv, run_steal = [], [], []
    for profile, row in rows.items():
        rr = row["results"].get("rr")
        if not rr:
            continue
        per_run = [
            r["cpu"]["steal_percent"]
            for r in rr["runs"]
            if r.get("cpu") and r["cpu"].get("steal_percent") is not None
        ]
        cv = rr["estimates"]["p99"].get("cv") or 0.0
        labels.append(profile)
        p99_cv.append(100 * cv)
        run_steal.append(max(per_run, default=0.0))
        steals += per_run
        figures.append(
            Figure(
                f"{profile} TCP_RR: p99 CV across runs / max steal in a run",
                f"{100 * cv:.1f} % / {max(per_run, default=0.0):.1f} %",
                rr.get("tool", ""),
            )
        )
    if not steals and not labels:
        return not_measured(("host-check", "compare"))
    worst = max(steals, default=0.0)
    if labels:
        parts.append(
            f"during compare the worst run had {max(run_steal):.1f} % steal, and the "
            f"TCP_RR p99 varied by {min(p99_cv):.1f}–{max(p99_cv):.1f} % (CV) between runs"
        )
    text = "On this host, " + "; ".join(parts) + ". "
    if worst >= STEAL_NOISY:
        status = "reproduced"
        text += (
            "Steal is time the hypervisor gave the vCPUs to other tenants: it lands on "
            "latency tails, which is why compare interleaves its runs and reports CIs."
        )
    else:
        status = "depends"
        text += (
            "No neighbour took CPU time while this was measured; the variation left is "
            "the scheduler's own. The claim is about the host, and this one was quiet."
        )
    chart = (
        Chart(
            "Run-to-run variation and steal",
            "%",
            labels,
            [Series("TCP_RR p99 CV", p99_cv), Series("max steal in a run", run_steal)],
        )
        if labels
        else None
    )
    return Verdict(
        status, text, figures, chart, "the host and the hour" if status == "depends" else ""
    )


CLAIM = Claim(
    "noisy-neighbours",
    "Noisy neighbours and variable latency on oversold clouds",
    "Stop fighting with noisy neighbors and variable latency on oversold clouds. If you need a "
    "consistent baseline for your production cluster …",
    ("host-check", "compare"),
    judge,
)
