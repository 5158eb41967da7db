"""The report's "your cluster vs the lab's model of it": a compare measured on a live
cluster (`compare --kubeconfig`) beside a lab compare, each row's figures and its cost over
its own underlay. Absolute figures differ between a cloud's network and one host's; the
cost of the pod network over the same machines' underlay is what the two can share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubenetlab.claims import Evidence

# (test, estimate, label, unit): the columns, as compare's table names them
COLUMNS = (
    ("rr", "p50", "RR p50", "µs"),
    ("crr", "p50", "CRR p50", "µs"),
    ("stream", "gbps", "TCP stream", "Gbit/s"),
    ("crr_service", "p50", "CRR → ClusterIP p50", "µs"),
    ("rr_nodeport", "p50", "RR → NodePort p50", "µs"),
)
BASELINE = "underlay"


@dataclass(frozen=True)
class Line:
    source: str  # "cluster" or "lab"
    row: str  # the compare row's name
    what: str  # the row's description
    cells: tuple[str, ...]  # one per column: "66.1 (+74 %)", or "" when not measured


@dataclass(frozen=True)
class SideBySide:
    context: str
    cluster: dict[str, Any]  # the cluster section of its compare
    lines: tuple[Line, ...]
    columns: tuple[str, ...]
    summary: str  # one sentence: the pod network's cost here and in the lab's model
    tools: tuple[str, ...]  # "TCP_RR: sockperf 3.7", each test's tool in either result


def _cell(row: dict[str, Any], test: str, key: str, unit: str) -> str:
    estimate = (((row.get("results") or {}).get(test) or {}).get("estimates") or {}).get(key)
    if not estimate:
        return ""
    digits = 2 if unit == "Gbit/s" else 1
    text = f"{estimate['median']:.{digits}f}"
    over = (row.get("overhead_percent") or {}).get(f"{test}.{key}")
    if over is not None and row.get("profile") != BASELINE:
        text += f" ({over:+.0f} %)"
    return text


def _line(source: str, row: dict[str, Any]) -> Line:
    cells = tuple(_cell(row, test, key, unit) for test, key, _, unit in COLUMNS)
    return Line(source, row["profile"], row.get("models", ""), cells)


def side_by_side(evidence: Evidence) -> SideBySide | None:
    """None without a cluster compare; with one, its rows, and the lab's underlay and the
    row that models the cluster (every lab row when no lab stack models it)."""
    doc = evidence.get("cluster-compare")
    if not doc:
        return None
    cluster = doc["cluster"]
    measured = [r for r in doc.get("rows", []) if r.get("measured")]
    lines = [_line("cluster", r) for r in measured]
    lab = evidence.get("compare")
    lab_rows = {r["profile"]: r for r in (lab or {}).get("rows", [])
                if r.get("measured") and lab is not doc}  # fmt: skip
    model = cluster.get("model")
    chosen = [BASELINE, model] if model in lab_rows else list(lab_rows)
    lines += [_line("lab", lab_rows[name]) for name in chosen if name in lab_rows]
    used = [i for i, _ in enumerate(COLUMNS) if any(line.cells[i] for line in lines)]
    trimmed = tuple(Line(x.source, x.row, x.what, tuple(x.cells[i] for i in used)) for x in lines)
    return SideBySide(
        cluster.get("context", ""),
        cluster,
        trimmed,
        tuple(f"{COLUMNS[i][2]} {COLUMNS[i][3]}" for i in used),
        _summary(measured, lab_rows, model, lab is not None and lab is not doc),
        _tools([*measured, *lab_rows.values()]),
    )


def _tools(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({f"{r.get('test_name', test)}: {r['tool']}" for row in rows
                         for test, r in (row.get("results") or {}).items() if r.get("tool")}))  # fmt: skip


def _summary(cluster_rows: list[dict[str, Any]], lab_rows: dict[str, dict[str, Any]],
             model: str | None, lab_given: bool) -> str:  # fmt: skip
    pods = next((r for r in cluster_rows if r["profile"] != BASELINE), None)
    over = ((pods or {}).get("overhead_percent") or {}).get("rr.p50")
    if over is None:
        return "The cluster's pod → pod row was not measured."
    text = f"Pod → pod TCP_RR p50 costs {over:+.0f} % over the underlay on the cluster"
    if not lab_given:
        return text + (
            "; give a lab compare too (`kubenetlab compare --report DIR`) to see "
            "the lab's model beside it."
        )
    if model is None:
        return text + "; no lab stack models its data path, so every lab row is shown."
    if model not in lab_rows:
        return (text + f"; the lab compare has no {model} row (the stack that models it): "
                f"run `kubenetlab compare --profiles {model}`.")  # fmt: skip
    lab_over = (lab_rows[model].get("overhead_percent") or {}).get("rr.p50")
    if lab_over is None:
        return text + f"; the lab's {model} row has no TCP_RR."
    return text + f", {lab_over:+.0f} % in the lab's model of it ({model})."
