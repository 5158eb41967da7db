"""The article's claims, each judged against measured results.

A claim is one module in this package (as an ansible-lint rule is one file): it defines
`CLAIM`, whose `judge` reads the result documents it needs from an `Evidence` and returns
a `Verdict` — reproduced / not reproduced / depends / not measured, one paragraph of
reasoning with its numbers, the figures behind it (each naming the tool that produced it)
and optionally a chart as data. Claims decide; `report/html_report.py` only draws.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("reproduced", "not reproduced", "depends", "not measured")

# The order of the article; one module per claim.
MODULES = (
    "overlay_throughput",
    "mtu_alignment",
    "iptables_cpu",
    "dsr_latency",
    "ebpf_bypass",
    "etcd_fsync",
    "canary_split",
    "etp_local",
    "cni_table",
    "helm_command",
    "noisy_neighbours",
)


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    tool: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    low: list[float] | None = None  # CI bounds, drawn as error bars
    high: list[float] | None = None


@dataclass(frozen=True)
class Chart:
    """Grouped bars: one group per label, one bar per series."""

    title: str
    unit: str
    labels: list[str]
    series: list[Series]
    threshold: float | None = None  # a horizontal line (e.g. 10 ms)
    threshold_label: str = ""


@dataclass(frozen=True)
class Verdict:
    status: str  # one of VERDICTS
    reasoning: str
    figures: list[Figure] = field(default_factory=list)
    chart: Chart | None = None
    condition: str = ""  # for "depends": on what

    @property
    def label(self) -> str:
        return f"depends on {self.condition}" if self.status == "depends" else self.status


class Evidence:
    """Result documents by kind ("compare", "mtu", …); the last one given of a kind wins."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    def get(self, kind: str) -> dict[str, Any] | None:
        return self.docs.get(kind)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    quote: str  # the article's words
    needs: tuple[str, ...]  # result kinds, and the command that writes each
    judge: Callable[[Evidence], Verdict]

    def evaluate(self, evidence: Evidence) -> Verdict:
        if not any(evidence.get(k) for k in self.needs):
            return not_measured(self.needs)
        for kind in self.needs:
            bad = unreadable(evidence.get(kind))
            if bad:  # a verdict on nan or a negative latency would be a guess
                return Verdict("not measured", f"The {kind} result holds a figure that cannot be "
                               f"a measurement ({bad}); run `{PRODUCERS[kind]}` again.")  # fmt: skip
        return self.judge(evidence)


# Keys whose values are latencies, durations or rates: never negative (differences of them,
# an overhead or a "last minus first", may be).
NON_NEGATIVE = re.compile(r"^(p\d+(\.\d+)?|min|max|mean|median|iops|.*_(ms|us|s|seconds|bps))$")
DIFFERENCE = re.compile(r"overhead|minus|delta|diff|change|gain|saving")


def unreadable(doc: Any, path: str = "") -> str | None:
    """The first figure in a result that no measurement gives: NaN, ±infinity (JSON's
    1e400 is one), or a negative latency, duration or rate; None when every one is sound."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    return f"{where} is {value}"
                if value < 0 and NON_NEGATIVE.match(str(key)) and not DIFFERENCE.search(str(key)):
                    return f"{where} is {value}"
            found = unreadable(value, where)
            if found:
                return found
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            if isinstance(value, float) and not math.isfinite(value):
                return f"{path}[{i}] is {value}"
            found = unreadable(value, f"{path}[{i}]")
            if found:
                return found
    return None


PRODUCERS = {
    "compare": "kubenetlab compare --report DIR",
    "cluster-compare": "kubenetlab compare --kubeconfig FILE --report DIR",
    "mtu": "kubenetlab scenario mtu --report DIR",
    "service-scale": "kubenetlab scenario service-scale --report DIR",
    "convergence": "kubenetlab scenario convergence --report DIR",
    "canary": "kubenetlab scenario canary -f ROUTES --report DIR",
    "etp": "kubenetlab scenario etp --report DIR",
    "churn": "kubenetlab scenario churn --report DIR",
    "trace": "kubenetlab trace LAB --from A --to B -o json",
    "etcd-disk": "kubenetlab etcd disk -o json",
    "host-check": "kubenetlab host check -o json",
    "audit": "kubenetlab audit --helm-command '…' -o json",
}


def not_measured(kinds: tuple[str, ...], why: str = "") -> Verdict:
    how = " or ".join(f"`{PRODUCERS[k]}`" for k in kinds)
    return Verdict("not measured", (why + " " if why else "") + f"No result given; run {how}.")


def claims() -> list[Claim]:
    return [importlib.import_module(f"{__name__}.{m}").CLAIM for m in MODULES]


# --- helpers the claims share -------------------------------------------------------------


def estimate(doc: dict[str, Any] | None, key: str) -> dict[str, float] | None:
    """An estimate {median, ci_low, ci_high, …} from a bench result's `estimates`."""
    if not doc:
        return None
    return (doc.get("estimates") or {}).get(key)


def fmt(e: dict[str, float] | None, unit: str, digits: int = 1) -> str:
    if not e:
        return "n/a"
    level = round(100 * e.get("ci_level", 0.95))
    return (
        f"{e['median']:.{digits}f} {unit} ({level} % CI {e['ci_low']:.{digits}f}–"
        f"{e['ci_high']:.{digits}f}, n={e.get('n', '?')})"
    )


def separated(a: dict[str, float], b: dict[str, float]) -> bool:
    """The two confidence intervals do not overlap."""
    return a["ci_high"] < b["ci_low"] or b["ci_high"] < a["ci_low"]


def change(new: float, old: float) -> float:
    """Percent change from old to new."""
    return 100.0 * (new - old) / old if old else 0.0


def compare_rows(evidence: Evidence) -> dict[str, dict[str, Any]]:
    """Measured rows by profile; a cluster's pod row also under the lab stack that models
    its data path, so the claims judge a cluster as they judge that stack in a lab."""
    doc = evidence.get("compare") or {}
    rows = {r["profile"]: r for r in doc.get("rows", []) if r.get("measured")}
    model = (doc.get("cluster") or {}).get("model")
    pods = [r for name, r in rows.items() if name != "underlay"]
    if model and len(pods) == 1:
        rows.setdefault(model, pods[0])
    return rows


def result(rows: dict[str, dict[str, Any]], profile: str, test: str) -> dict[str, Any] | None:
    row = rows.get(profile)
    return (row or {}).get("results", {}).get(test)


def bars(
    title: str, unit: str, named: list[tuple[str, dict[str, float] | None]], series: str
) -> Chart:
    """One series of bars with CIs from (label, estimate) pairs that have an estimate."""
    kept = [(n, e) for n, e in named if e]
    return Chart(
        title,
        unit,
        [n for n, _ in kept],
        [
            Series(
                series,
                [e["median"] for _, e in kept],
                [e["ci_low"] for _, e in kept],
                [e["ci_high"] for _, e in kept],
            )
        ],
    )
