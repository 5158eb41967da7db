"""Which rule answers a request, and where its traffic goes: Gateway API semantics.

Precedence (`apis/v1/httproute_types.go`, HTTPRouteRule): across every rule of the
routes attached to a Gateway, continuing on ties:
  1. hostname: the longest matching exact hostname, then the longest matching wildcard,
     then routes without hostnames (HTTPRoute.spec.hostnames);
  2. an Exact path; then RegularExpression (implementation-specific: kubenetlab places
     it between Exact and PathPrefix, as Envoy Gateway does); then the PathPrefix with
     the most characters;
  3. a method match; 4. the most header matches; 5. the most query-param matches;
  6. the oldest route (creationTimestamp; position in the input when none is given);
  7. `namespace/name` in alphabetical order; 8. rule order, then match order.
No match: 404. PathPrefix matches whole path elements: `/abc` matches `/abc`, `/abc/`
and `/abc/x`, not `/abcd`; a trailing `/` in the value is ignored. Regular expressions
must match the whole path (or header / parameter value).

Backends (`BackendRef`): weight defaults to 1; a backend's share is its weight over the
sum of the rule's weights; weight 0 gets nothing. A reference that cannot be resolved
(no such Service or port, another kind, another namespace without a ReferenceGrant)
keeps its share but answers it with HTTP 500; a rule whose weights are all 0, or that
has no backendRefs, answers 500 to everything it matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubenetlab.gateway.model import (
    BackendRef,
    Gateway,
    GatewayConfig,
    HTTPRoute,
    Match,
    Rule,
    shares,
)

PATH_RANK = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}


@dataclass(frozen=True)
class Entry:
    """One (route, rule, match, hostname) in precedence order: the first that matches wins."""

    route: HTTPRoute
    rule_index: int
    match_index: int
    match: Match
    hostname: str | None  # None: the route has no hostnames (any host)

    @property
    def rule(self) -> Rule:
        return self.route.rules[self.rule_index]

    @property
    def rule_id(self) -> str:
        return f"{self.route.key} rule {self.rule_index + 1}"


def prefix_base(value: str) -> str:
    return value.rstrip("/")


def _host_rank(hostname: str | None) -> tuple[int, int]:
    if hostname is None:
        return (2, 0)
    if hostname.startswith("*."):
        return (1, -len(hostname))
    return (0, -len(hostname))


def _path_rank(m: Match) -> tuple[int, int]:
    length = len(prefix_base(m.path)) if m.path_type == "PathPrefix" else len(m.path)
    return (PATH_RANK[m.path_type], -length)


def sort_key(e: Entry) -> tuple[object, ...]:
    m = e.match
    return (
        _host_rank(e.hostname),
        _path_rank(m),
        0 if m.method else 1,
        -len(m.headers),
        -len(m.query),
        e.route.age_key,
        e.route.key,
        e.rule_index,
        e.match_index,
    )


def attached(config: GatewayConfig, gateway: Gateway) -> list[HTTPRoute]:
    return [
        r
        for r in config.routes
        if any((p.namespace, p.name) == (gateway.namespace, gateway.name) for p in r.parents)
    ]


def entries(routes: list[HTTPRoute]) -> list[Entry]:
    out = [
        Entry(route, i, j, m, host)
        for route in routes
        for i, rule in enumerate(route.rules)
        for j, m in enumerate(rule.matches)
        for host in (route.hostnames or (None,))
    ]
    return sorted(out, key=sort_key)


@dataclass(frozen=True)
class Request:
    path: str
    method: str = "GET"
    host: str = "gateway"
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    query: dict[str, str] = field(default_factory=dict)  # first value of each parameter


def hostname_matches(pattern: str | None, host: str) -> bool:
    host = host.split(":", 1)[0].lower()
    if pattern is None:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def path_matches(m: Match, path: str) -> bool:
    if m.path_type == "Exact":
        return path == m.path
    if m.path_type == "PathPrefix":
        base = prefix_base(m.path)
        return path == base or path.startswith(base + "/")
    return re.fullmatch(m.path, path) is not None


def _value_ok(kind: str, expected: str, actual: str | None) -> bool:
    if actual is None:
        return False
    if kind == "Exact":
        return actual == expected
    return re.fullmatch(expected, actual) is not None


def matches(e: Entry, req: Request) -> bool:
    m = e.match
    return (
        hostname_matches(e.hostname, req.host)
        and path_matches(m, req.path)
        and (m.method is None or m.method == req.method)
        and all(_value_ok(h.type, h.value, req.headers.get(h.name)) for h in m.headers)
        and all(_value_ok(q.type, q.value, req.query.get(q.name)) for q in m.query)
    )


def select(ordered: list[Entry], req: Request) -> Entry | None:
    """The entry that answers `req`; None means 404."""
    return next((e for e in ordered if matches(e, req)), None)


@dataclass(frozen=True)
class ResolvedBackend:
    ref: BackendRef
    share: float
    reason: str | None  # None: resolved; otherwise why its share gets HTTP 500

    @property
    def valid(self) -> bool:
        return self.reason is None


def resolve(
    rule: Rule, route: HTTPRoute, config: GatewayConfig, services: dict[str, set[int]]
) -> list[ResolvedBackend]:
    """Each backendRef with its share and, if it cannot receive traffic, why.
    `services`: "namespace/name" → the ports that Service has."""
    out = []
    for b, share in zip(rule.backends, shares([b.weight for b in rule.backends]), strict=True):
        key = f"{b.namespace}/{b.name}"
        reason = None
        if b.kind != "Service" or b.group not in ("", "core"):
            reason = f"kind {b.group or 'core'}/{b.kind} is not supported (InvalidKind)"
        elif b.namespace != route.namespace and not any(
            g.namespace == b.namespace and g.allows(route.namespace, b.name) for g in config.grants
        ):
            reason = f"no ReferenceGrant lets {route.key} refer to {key} (RefNotPermitted)"
        elif key not in services:
            reason = f"Service {key} does not exist (BackendNotFound)"
        elif b.port not in services[key]:
            reason = f"Service {key} has no port {b.port} (BackendNotFound)"
        out.append(ResolvedBackend(b, share, reason))
    return out
