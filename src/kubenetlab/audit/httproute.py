"""Static checks of Gateway API HTTPRoutes (gateway.networking.k8s.io/v1).

Semantics from the spec (apis/v1/httproute_types.go): a backendRef's weight defaults
to 1, ranges 0-1,000,000, and its share is weight / sum of the rule's weights; weight 0
gets no traffic; when no backend of a rule can receive traffic the rule answers 500.
PathPrefix matches element-wise: `/abc` matches `/abc`, `/abc/`, `/abc/def`, not `/abcd`.
"""

from __future__ import annotations

from typing import Any

from kubenetlab.audit.findings import Finding, finding
from kubenetlab.audit.services import Obj
from kubenetlab.gateway.model import path_error

MAX_WEIGHT = 1_000_000


def backend_shares(refs: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(name, weight, share) per backendRef; shares are 0 when all weights are 0."""
    weights = [r.get("weight", 1) for r in refs]
    total = sum(w for w in weights if isinstance(w, int) and w > 0)
    return [
        (str(r.get("name", "?")), w, (w / total if total and isinstance(w, int) and w > 0 else 0.0))
        for r, w in zip(refs, weights, strict=True)
    ]


def _path_error(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must start with '/'"
    return path_error(value)


def check(objects: list[Obj]) -> list[Finding]:
    services = {(o.namespace, o.name) for o in objects if o.kind == "Service"}
    out: list[Finding] = []
    for route in (o for o in objects if o.kind == "HTTPRoute"):
        for i, rule in enumerate((route.data.get("spec") or {}).get("rules") or []):
            out += _check_rule(route, i, rule, services)
    return out


def _check_rule(
    route: Obj, i: int, rule: dict[str, Any], services: set[tuple[str, str]]
) -> list[Finding]:
    out: list[Finding] = []
    refs = rule.get("backendRefs") or []
    where = f"{route.ref} rule {i + 1}"
    for j, m in enumerate(rule.get("matches") or []):
        path = m.get("path") or {}
        ptype, value = path.get("type", "PathPrefix"), path.get("value", "/")
        line = route.line("spec", "rules", i, "matches", j, "path", "value")
        if ptype in ("PathPrefix", "Exact") and (error := _path_error(value)):
            out.append(
                finding(
                    "KNL-GW-006",
                    route.file,
                    line,
                    f"{where}: path {ptype} {value!r} {error}; the API rejects the route",
                    "write the path as an absolute, normalised URL path",
                )
            )
        elif ptype == "PathPrefix" and value != "/":
            base = value.rstrip("/")
            out.append(
                finding(
                    "KNL-GW-005",
                    route.file,
                    line,
                    f"{where}: PathPrefix {value} matches whole path elements: {base}, {base}/ and "
                    f"{base}/… match, {base}x or {base}-v2 do not (they go to another rule or 404)",
                    "add a separate match for sibling paths you mean to catch",
                    prefix=value,
                )
            )
    if not refs:
        return out
    line = route.line("spec", "rules", i, "backendRefs")
    for j, r in enumerate(refs):
        w = r.get("weight", 1)
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= MAX_WEIGHT:
            out.append(
                finding(
                    "KNL-GW-007",
                    route.file,
                    route.line("spec", "rules", i, "backendRefs", j, "weight"),
                    f"{where}: backendRef {r.get('name')} weight {w!r} is outside 0-{MAX_WEIGHT:,}",
                    "use an integer from 0 to 1,000,000",
                )
            )
            return out
    shares = backend_shares(refs)
    split = ", ".join(f"{name} {100 * s:.1f}% (weight {w})" for name, w, s in shares)
    if all(w == 0 for _, w, _ in shares):
        out.append(
            finding(
                "KNL-GW-002",
                route.file,
                line,
                f"{where}: every backendRef has weight 0: the gateway answers HTTP 500 "
                "to all requests this rule matches",
                "give at least one backend a weight above 0",
            )
        )
    else:
        out.append(
            finding(
                "KNL-GW-001",
                route.file,
                line,
                f"{where}: traffic split {split}",
                "weights are relative: share = weight / sum of the rule's weights",
                split={name: s for name, _, s in shares},
            )
        )
        for name, w, _ in shares:
            if w == 0:
                out.append(
                    finding(
                        "KNL-GW-003",
                        route.file,
                        line,
                        f"{where}: backendRef {name} has weight 0 and receives no traffic",
                        "raise its weight to start sending it requests",
                    )
                )
    for j, r in enumerate(refs):
        if r.get("kind", "Service") != "Service" or r.get("group", "") not in ("", "core"):
            continue
        ns = r.get("namespace") or route.namespace
        if (ns, r.get("name")) not in services:
            share = shares[j][2]
            out.append(
                finding(
                    "KNL-GW-004",
                    route.file,
                    route.line("spec", "rules", i, "backendRefs", j, "name"),
                    f"{where}: backendRef Service {ns}/{r.get('name')} is not among the audited "
                    f"files; if it does not exist, its {100 * share:.1f}% share is answered with "
                    "HTTP 500 (ResolvedRefs=False)",
                    "audit the Service manifests together with the route, or create the Service",
                )
            )
    return out
