"""`kubenetlab assess` for people: what was detected (each fact with its source), what
could not be told and why, the twin it stands for, what was scaled, and the what-ifs."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kubenetlab.assess.profile import Profile
from kubenetlab.assess.twin import TwinPlan
from kubenetlab.report.tables import stdout


def print_plan(found: Profile, plan: TwinPlan) -> None:
    path = found.data_path
    stdout.print(f"[bold]{found.source}[/]: CNI {path.cni}, kube-proxy {path.kube_proxy}, "
                 f"{found.services['count']} Services, {found.endpoints['total']} ready "
                 f"endpoints, {len(found.nodes)} nodes", highlight=False)  # fmt: skip
    facts = Table("detected", "value", "from", box=None, pad_edge=False)
    for f in found.facts:
        facts.add_row(f.name, f.value, f.source)
    stdout.print(facts)
    if found.unknown:
        unknown = Table("unknown", "why", box=None, pad_edge=False)
        for u in found.unknown:
            unknown.add_row(u.name, u.why)
        stdout.print(unknown)
    for note in found.notes:
        stdout.print(f"note: {note}", highlight=False)
    stdout.print(f"\n[bold]twin[/]: lab stack {plan.stack} ({plan.stack_source}), {plan.nodes} "
                 f"nodes, {plan.services} Services × {plan.endpoints_per_service} endpoints"
                 + (f", churn {plan.churn_per_second:.2g} slice updates/s"
                    if plan.churn_per_second is not None else ", churn unknown"),
                 highlight=False)  # fmt: skip
    for line in plan.scaled:
        stdout.print(f"scaled: {line}", highlight=False)
    if plan.replay is not None:
        r = plan.replay.to_dict()
        types = ", ".join(f"{n} {t}" for t, n in r["types"].items())
        stdout.print(f"replayed: {r['services']} of its Services ({types}), {r['endpoints']} "
                     f"endpoints on {r['nodes']} nodes × {r['pods_per_node']} pods, per node "
                     f"{' / '.join(map(str, r['endpoints_per_twin_node']))}; new connections "
                     f"to {r['measured'][0]} and {r['measured'][-1]}", highlight=False)  # fmt: skip
        for note in r["notes"]:
            stdout.print(f"replay: {note}", highlight=False)
    if plan.what_ifs:
        table = Table("what-if", "lab stack", "the change", box=None, pad_edge=False)
        for w in plan.what_ifs:
            table.add_row(w.name, w.stack, w.change)
        stdout.print(table)
    for name, why in plan.not_applicable.items():
        stdout.print(f"not a what-if here: {name}: {why}", highlight=False)


def _fmt(e: dict[str, float]) -> str:
    digits = 2 if e["median"] < 100 else 0
    text = f"{e['median']:.{digits}f}"
    if "ci_low" in e and "ci_high" in e:
        text += f" ({e['ci_low']:.{digits}f}–{e['ci_high']:.{digits}f})"
    return text


def page(doc: dict[str, Any]) -> str:
    """The assessment on one self-contained HTML page (the report's style)."""
    import jinja2

    from kubenetlab.environment import environment
    from kubenetlab.report.html_report import TEMPLATES

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)  # fmt: skip
    ranked = doc.get("ranking") or [
        {"what_if": w["name"], "stack": w["stack"], "change": w["change"], "caveat": w["caveat"],
         "measured": False, "best_gain": None, "changes": []}
        for w in doc["twin"]["what_ifs"]
    ]  # fmt: skip
    return env.get_template("assess.html.j2").render(doc=doc, ranked=ranked, fmt=_fmt,
                                                     here=environment())  # fmt: skip


def print_ranking(doc: dict[str, Any]) -> None:
    table = Table("#", "what-if", "lab stack", "best gain", "figure", "measured with", box=None,
                  pad_edge=False)  # fmt: skip
    for i, r in enumerate(doc["ranking"], 1):
        best = r["best_gain"]
        table.add_row(str(i), r["what_if"], r["stack"],
                      f"{best['gain_percent']:+.0f} %" if best else
                      ("none outside the noise" if r["measured"] else "not measured"),
                      best["figure"] if best else "", best["tool"] if best else "")  # fmt: skip
    stdout.print(table)
    for r in doc["ranking"]:
        stdout.print(f"{r['what_if']}: {r['change']}", highlight=False)
