"""Each what-if against the twin as it is, from the same run's results: the change of
every figure both measured (median and CI), and the what-ifs ranked by their largest
gain whose intervals do not overlap — a change inside the noise ranks none. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kubenetlab.assess.twin import TwinPlan

# (source, test or key, estimate, label, better): compare rows' results and service-scale's
FIGURES = (
    ("compare", "rr", "p50", "pod → pod TCP_RR p50 µs", "lower"),
    ("compare", "crr", "p50", "pod → pod TCP_CRR p50 µs", "lower"),
    ("compare", "stream", "gbps", "pod → pod TCP_STREAM Gbit/s", "higher"),
    ("compare", "crr_service", "p50", "TCP_CRR → ClusterIP p50 µs", "lower"),
    ("compare", "rr_nodeport", "p50", "TCP_RR → NodePort p50 µs", "lower"),
    ("scale", "crr_last", "p50", "TCP_CRR → the last Service p50 µs", "lower"),
    ("scale", "program_seconds", "", "programming all Services, s", "lower"),
)


@dataclass(frozen=True)
class Change:
    figure: str
    now: dict[str, float]  # median, ci_low, ci_high (or just median)
    then: dict[str, float]
    gain_percent: float  # > 0: better
    significant: bool  # the intervals do not overlap
    tool: str = ""  # what measured it (sockperf, knl-rr, iperf3; service-scale's clock)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _estimate(value: Any) -> dict[str, float] | None:
    if isinstance(value, dict) and "median" in value:
        return {k: value[k] for k in ("median", "ci_low", "ci_high", "n") if k in value}
    if isinstance(value, int | float):
        return {"median": float(value)}
    return None


PROGRAM_CLOCK = "service-scale: from the first API write to the proxy's rules in place"


def _compare_figure(rows: dict[str, Any], stack: str, test: str, key: str) -> tuple[Any, str]:
    result = (((rows.get(stack) or {}).get("results") or {}).get(test)) or {}
    return (result.get("estimates") or {}).get(key), result.get("tool", "")


def _scale_figure(rows: dict[str, Any], proxy: str | None, field: str,
                  key: str) -> tuple[Any, str]:  # fmt: skip
    row = rows.get(proxy or "")
    if row is None:
        return None, ""
    if not key:
        return row.get(field), PROGRAM_CLOCK
    return (row.get(field) or {}).get(key), row.get("tool", "")


def changes(compare: dict[str, Any] | None, scale: dict[str, Any] | None, now_stack: str,
            then_stack: str, proxies: dict[str, str | None], services: int) -> list[Change]:  # fmt: skip
    """Every figure measured for both stacks; `proxies` maps a stack to its proxy (the
    service-scale rows are per proxy, at `services`)."""
    compare_rows = {r["profile"]: r for r in (compare or {}).get("rows", []) if r.get("measured")}
    scale_rows = {r["proxy"]: r for r in (scale or {}).get("rows", []) if r["services"] == services}
    out = []
    for source, test, key, label, better in FIGURES:
        if source == "compare":
            (now, tool), (then, _) = (_compare_figure(compare_rows, stack, test, key)
                                      for stack in (now_stack, then_stack))  # fmt: skip
        else:
            if proxies.get(now_stack) == proxies.get(then_stack):
                continue  # same proxy: service-scale cannot tell them apart
            (now, tool), (then, _) = (_scale_figure(scale_rows, proxies.get(stack), test, key)
                                      for stack in (now_stack, then_stack))  # fmt: skip
        found = _change(label, better, now, then, tool)
        if found:
            out.append(found)
    return out


# (scenario mtu's test, estimate, label, better): the pod MTU the cluster runs vs aligned
MTU_FIGURES = (
    ("TCP_STREAM", "gbps", "pod → pod TCP_STREAM Gbit/s at the pod MTU", "higher"),
    ("UDP_STREAM", "gbps", "pod → pod UDP_STREAM Gbit/s at the pod MTU", "higher"),
    ("TCP_RR", "p50", "pod → pod TCP_RR p50 µs at the pod MTU", "lower"),
)


def _change(label: str, better: str, now: Any, then: Any, tool: str) -> Change | None:
    a, b = _estimate(now), _estimate(then)
    if not a or not b or not a["median"]:
        return None
    gain = 100 * (b["median"] - a["median"]) / a["median"]
    if better == "lower":
        gain = -gain
    overlap = not ({"ci_low", "ci_high"} <= a.keys() and {"ci_low", "ci_high"} <= b.keys()) or (
        a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"])  # fmt: skip
    runs = min(a.get("n", 0), b.get("n", 0))  # one run has no interval to tell noise by
    return Change(label, a, b, round(gain, 1), runs >= 2 and not overlap, tool)


def mtu_changes(mtu: dict[str, Any] | None) -> list[Change]:
    """scenario mtu's case "yours" (the cluster's pod MTU) against "aligned", per size."""
    rows = (mtu or {}).get("rows", [])
    out = []
    for yours in (r for r in rows if r["case"] == "yours"):
        aligned = next((r for r in rows if r["case"] == "aligned" and r["size"] == yours["size"]
                        and r["profile"] == yours["profile"]), None)  # fmt: skip
        if aligned is None:
            continue
        for test, key, label, better in MTU_FIGURES:
            now, then = yours["tests"].get(test) or {}, aligned["tests"].get(test) or {}
            found = _change(f"{label}, {yours['size']} B messages", better,
                            (now.get("estimates") or {}).get(key),
                            (then.get("estimates") or {}).get(key), now.get("tool") or "")  # fmt: skip
            if found:
                out.append(found)
    return out


def ranking(plan: TwinPlan, compare: dict[str, Any] | None, scale: dict[str, Any] | None,
            proxies: dict[str, str | None], mtu: dict[str, Any] | None = None,
            ) -> list[dict[str, Any]]:  # fmt: skip
    """The what-ifs, best first: each with its changes, its best significant gain, the
    configuration change and caveat."""
    ranked = []
    for what_if in plan.what_ifs:
        if what_if.name == "mtu":
            found = mtu_changes(mtu)
        else:
            found = changes(compare, scale, plan.stack, what_if.stack, proxies, plan.services)
        gains = [c for c in found if c.significant and c.gain_percent > 0]
        best = max(gains, key=lambda c: c.gain_percent, default=None)
        ranked.append({
            "what_if": what_if.name, "stack": what_if.stack, "change": what_if.change,
            "caveat": what_if.caveat, "measured": bool(found),
            "best_gain": best.to_dict() if best else None,
            "changes": [c.to_dict() for c in found],
        })  # fmt: skip
    ranked.sort(key=lambda r: -(r["best_gain"] or {}).get("gain_percent", -1e9))
    return ranked
