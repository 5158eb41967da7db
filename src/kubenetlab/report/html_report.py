"""`kubenetlab report`: the article's claims with their verdicts on one self-contained HTML
page — Jinja2 for the page, matplotlib for the charts (inline SVG), nothing fetched."""

from __future__ import annotations

import io
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenetlab.claims import Chart, Claim, Evidence, Verdict, claims
from kubenetlab.environment import environment
from kubenetlab.report.cluster_view import side_by_side

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Section:
    claim: Claim
    verdict: Verdict
    svg: str | None


def judge_all(evidence: Evidence) -> list[tuple[Claim, Verdict]]:
    out = []
    for claim in claims():
        try:
            verdict = claim.evaluate(evidence)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
            # A recognised result missing a field the claim reads: say so, judge the rest.
            why = f"a field it reads is missing or malformed ({type(exc).__name__}: {exc})"
            verdict = Verdict("not measured", f"The result given cannot be read: {why}.")
        out.append((claim, verdict))
    return out


def chart_svg(chart: Chart) -> str:
    """Grouped bars with CI whiskers, as an inline <svg> element."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    n = max(len(chart.series), 1)
    width = 0.8 / n
    for i, s in enumerate(chart.series):
        xs = [x + (i - (n - 1) / 2) * width for x in range(len(chart.labels))]
        err = None
        if s.low is not None and s.high is not None:
            err = [[max(v - lo, 0) for v, lo in zip(s.values, s.low, strict=True)],
                   [max(hi - v, 0) for v, hi in zip(s.values, s.high, strict=True)]]  # fmt: skip
        ax.bar(xs, s.values, width, yerr=err, capsize=3, label=s.name)
    if chart.threshold is not None:
        ax.axhline(chart.threshold, color="crimson", linestyle="--", linewidth=1,
                   label=chart.threshold_label)  # fmt: skip
    ax.set_xticks(range(len(chart.labels)), chart.labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(chart.unit)
    ax.set_title(chart.title, fontsize=10)
    if n > 1 or chart.threshold is not None:
        ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # same results, same page
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def _steal_rows(evidence: Evidence) -> list[dict[str, Any]]:
    """CPU steal during each measured run, where the result recorded it."""
    rows = []
    for row in (evidence.get("compare") or {}).get("rows", []):
        for test, res in row.get("results", {}).items():
            steals = [r["cpu"]["steal_percent"] for r in res.get("runs", [])
                      if (r.get("cpu") or {}).get("steal_percent") is not None]  # fmt: skip
            if steals:
                rows.append({"what": f"compare {row['profile']} {test}", "runs": len(steals),
                             "median": statistics.median(steals), "max": max(steals)})  # fmt: skip
    mtu = (evidence.get("mtu") or {}).get("cpu_steal_percent")
    if mtu:
        rows.append(
            {"what": "scenario mtu", "runs": None, "median": mtu["median"], "max": mtu["max"]}
        )
    return rows


def _tools(doc: Any, found: set[str]) -> set[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("tool", "engine", "builtin_tool", "reference_tool") and isinstance(
                value, str
            ):
                found.add(value)
            else:
                _tools(value, found)
    elif isinstance(doc, list):
        for item in doc:
            _tools(item, found)
    return found


ENV_FIELDS = ("measured_at", "kernel", "cpus", "kubenetlab", "git_revision")


def _source_row(source: dict[str, str], evidence: Evidence) -> dict[str, Any]:
    recorded = (evidence.get(source["kind"]) or {}).get("environment") or {}
    return {**source, **{k: recorded.get(k) for k in ENV_FIELDS}}


def render(evidence: Evidence, sources: list[dict[str, str]]) -> str:
    import jinja2

    sections = [
        Section(c, v, chart_svg(v.chart) if v.chart else None) for c, v in judge_all(evidence)
    ]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    measured_in = [_source_row(s, evidence) for s in sources]
    tally = {v: sum(1 for s in sections if s.verdict.status == v)
             for v in ("reproduced", "not reproduced", "depends", "not measured")}  # fmt: skip
    return env.get_template("report.html.j2").render(
        sections=sections, sources=measured_in, here=environment(), tally=tally,
        steal=_steal_rows(evidence), side=side_by_side(evidence),
        tools=sorted(set().union(*(_tools(d, set()) for d in evidence.docs.values()))),
        slug=lambda text: re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-"),
    )  # fmt: skip
