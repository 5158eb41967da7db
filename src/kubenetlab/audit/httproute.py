"""Static checks of Gateway API HTTPRoutes (gateway.networking.k8s.io/v1).

Semantics from the spec (apis/v1/httproute_types.go): a backendRef's weight defaults
to 1, ranges 0-1,000,000, and its share is weight / sum of the rule's weights; weight 0
gets no traffic; when no backend of a rule can receive traffic the rule answers 500.
PathPrefix matches element-wise: `/abc` matches `/abc`, `/abc/`, `/abc/def`, not `/abcd`.
"""

from __future__ import annotations

from typing import Any

from kubenetlab.audit.findings import GATEWAY_SPEC, Finding, Rule, register
from kubenetlab.gateway.model import (
    HTTPROUTE_LIMITS,
    MAX_WEIGHT,
    path_error,
    shares,
    valid_weight,
)
from kubenetlab.kube.objects import KubeObject, Unmodelled
from kubenetlab.kube.schemas import field_name

HTTPROUTE_SPLIT = register(
    Rule(
        "KNL-GW-001",
        "httproute-split",
        "info",
        "the traffic split a rule's backendRefs weights give",
        GATEWAY_SPEC + "#httpbackendref",
    )
)

HTTPROUTE_ALL_WEIGHTS_ZERO = register(
    Rule(
        "KNL-GW-002",
        "httproute-all-weights-zero",
        "error",
        "every backendRef of a rule has weight 0",
        GATEWAY_SPEC + "#httpbackendref",
    )
)

HTTPROUTE_ZERO_WEIGHT = register(
    Rule(
        "KNL-GW-003",
        "httproute-zero-weight",
        "info",
        "a backendRef with weight 0 gets no traffic",
        GATEWAY_SPEC + "#httpbackendref",
    )
)

HTTPROUTE_BACKEND_MISSING = register(
    Rule(
        "KNL-GW-004",
        "httproute-backend-missing",
        "warning",
        "a backendRef names a Service not found in the inputs",
        GATEWAY_SPEC + "#httpbackendref",
    )
)

HTTPROUTE_PATHPREFIX_ELEMENTS = register(
    Rule(
        "KNL-GW-005",
        "httproute-pathprefix-elements",
        "info",
        "PathPrefix matches whole path elements",
        GATEWAY_SPEC + "#pathmatchtype",
    )
)

HTTPROUTE_INVALID_PATH = register(
    Rule(
        "KNL-GW-006",
        "httproute-invalid-path",
        "error",
        "a path match value the API rejects",
        GATEWAY_SPEC + "#httppathmatch",
    )
)

HTTPROUTE_WEIGHT_RANGE = register(
    Rule(
        "KNL-GW-007",
        "httproute-weight-range",
        "error",
        "backendRef weight outside 0-1,000,000",
        GATEWAY_SPEC + "#httpbackendref",
    )
)

HTTPROUTE_OVER_LIMITS = register(
    Rule(
        "KNL-GW-008",
        "httproute-over-api-limits",
        "error",
        "a list longer than the API allows (16 rules, 64 matches, 16 backendRefs…)",
        GATEWAY_SPEC + "#httproute",
    )
)


def backend_shares(refs: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(name, weight, share) per backendRef (weights already checked by valid_weight)."""
    weights = [int(r.get("weight", 1)) for r in refs]
    names = [str(r.get("name", "?")) for r in refs]
    return list(zip(names, weights, shares(weights), strict=True))


def _path_error(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must start with '/'"
    return path_error(value)


def check(objects: list[KubeObject]) -> list[Finding]:
    services = {(o.namespace, o.name) for o in objects if o.kind == "Service"}
    out: list[Finding] = []
    for route in (o for o in objects if isinstance(o, Unmodelled) and o.kind == "HTTPRoute"):
        if over := _over_limits(route):
            out.append(over)  # the API rejects the route: its rules never take effect
            continue
        for i, rule in enumerate((route.data.get("spec") or {}).get("rules") or []):
            out += _check_rule(route, i, rule, services)
    return out


def _over_limits(route: Unmodelled) -> Finding | None:
    """One finding for every list of the route longer than the API's maxItems."""
    spec = route.data.get("spec") or {}
    over: list[tuple[tuple[str | int, ...], int, int]] = []
    for field in ("parentRefs", "hostnames", "rules"):
        items = spec.get(field)
        if isinstance(items, list) and len(items) > HTTPROUTE_LIMITS[f"spec.{field}"]:
            over.append((("spec", field), len(items), HTTPROUTE_LIMITS[f"spec.{field}"]))
    for i, rule in enumerate(spec.get("rules") or []):
        for field in ("matches", "backendRefs", "filters"):
            items = rule.get(field) if isinstance(rule, dict) else None
            if isinstance(items, list) and len(items) > HTTPROUTE_LIMITS[field]:
                over.append((("spec", "rules", i, field), len(items), HTTPROUTE_LIMITS[field]))
    if not over:
        return None
    text = "; ".join(
        f"{field_name(p)} has {n:,} entries (at most {limit})" for p, n, limit in over[:3]
    )
    more = f"; and {len(over) - 3} more lists" if len(over) > 3 else ""
    return HTTPROUTE_OVER_LIMITS.finding(
        route.file,
        route.line(*over[0][0]),
        f"{route.ref}: {text}{more}: the API server rejects the route, so none of its rules "
        "is checked further or takes effect",
        "split it into several HTTPRoutes (each within 16 rules) attached to the same parent",
    )


def _check_rule(
    route: Unmodelled, i: int, rule: dict[str, Any], services: set[tuple[str, str]]
) -> list[Finding]:
    where = f"{route.ref} rule {i + 1}"
    out = _check_paths(route, i, rule, where)
    refs = rule.get("backendRefs") or []
    if not refs:
        return out
    for j, r in enumerate(refs):
        if not valid_weight(w := r.get("weight", 1)):
            out.append(
                HTTPROUTE_WEIGHT_RANGE.finding(
                    route.file,
                    route.line("spec", "rules", i, "backendRefs", j, "weight"),
                    f"{where}: backendRef {r.get('name')} weight {w!r} is outside 0-{MAX_WEIGHT:,}",
                    "use an integer from 0 to 1,000,000",
                )
            )
            return out
    split = backend_shares(refs)
    return (
        out
        + _check_split(route, i, split, where)
        + _check_backends(route, i, refs, split, where, services)
    )


def _check_paths(route: Unmodelled, i: int, rule: dict[str, Any], where: str) -> list[Finding]:
    out = []
    for j, m in enumerate(rule.get("matches") or []):
        path = m.get("path") or {}
        ptype, value = path.get("type", "PathPrefix"), path.get("value", "/")
        line = route.line("spec", "rules", i, "matches", j, "path", "value")
        if ptype in ("PathPrefix", "Exact") and (error := _path_error(value)):
            out.append(
                HTTPROUTE_INVALID_PATH.finding(
                    route.file,
                    line,
                    f"{where}: path {ptype} {value!r} {error}; the API rejects the route",
                    "write the path as an absolute, normalised URL path",
                )
            )
        elif ptype == "PathPrefix" and value != "/":
            base = value.rstrip("/")
            out.append(
                HTTPROUTE_PATHPREFIX_ELEMENTS.finding(
                    route.file,
                    line,
                    f"{where}: PathPrefix {value} matches whole path elements: {base}, {base}/ and "
                    f"{base}/… match, {base}x or {base}-v2 do not (they go to another rule or 404)",
                    "add a separate match for sibling paths you mean to catch",
                    prefix=value,
                )
            )
    return out


def _check_split(
    route: Unmodelled, i: int, split: list[tuple[str, int, float]], where: str
) -> list[Finding]:
    line = route.line("spec", "rules", i, "backendRefs")
    if all(w == 0 for _, w, _ in split):
        return [
            HTTPROUTE_ALL_WEIGHTS_ZERO.finding(
                route.file,
                line,
                f"{where}: every backendRef has weight 0: the gateway answers HTTP 500 "
                "to all requests this rule matches",
                "give at least one backend a weight above 0",
            )
        ]
    text = ", ".join(f"{name} {100 * s:.1f}% (weight {w})" for name, w, s in split)
    out = [
        HTTPROUTE_SPLIT.finding(
            route.file,
            line,
            f"{where}: traffic split {text}",
            "weights are relative: share = weight / sum of the rule's weights",
            split={name: s for name, _, s in split},
        )
    ]
    for name, w, _ in split:
        if w == 0:
            out.append(
                HTTPROUTE_ZERO_WEIGHT.finding(
                    route.file,
                    line,
                    f"{where}: backendRef {name} has weight 0 and receives no traffic",
                    "raise its weight to start sending it requests",
                )
            )
    return out


def _check_backends(
    route: Unmodelled,
    i: int,
    refs: list[dict[str, Any]],
    split: list[tuple[str, int, float]],
    where: str,
    services: set[tuple[str, str]],
) -> list[Finding]:
    out = []
    for j, r in enumerate(refs):
        if r.get("kind", "Service") != "Service" or r.get("group", "") not in ("", "core"):
            continue
        ns = r.get("namespace") or route.namespace
        if (ns, r.get("name")) not in services:
            out.append(
                HTTPROUTE_BACKEND_MISSING.finding(
                    route.file,
                    route.line("spec", "rules", i, "backendRefs", j, "name"),
                    f"{where}: backendRef Service {ns}/{r.get('name')} is not among the audited "
                    f"files; if it does not exist, its {100 * split[j][2]:.1f}% share is answered "
                    "with HTTP 500 (ResolvedRefs=False)",
                    "audit the Service manifests together with the route, or create the Service",
                )
            )
    return out
