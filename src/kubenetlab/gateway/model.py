"""Gateway API objects (gateway.networking.k8s.io/v1): Gateway, HTTPRoute, ReferenceGrant.

Parsed and validated as the API server and a conformant implementation would
(`apis/v1/httproute_types.go`, `shared_types.go`, `gateway_types.go`):
- a rule without `matches` matches PathPrefix `/`; a match without `path` too;
- path types Exact, PathPrefix (value starts with `/`) and RegularExpression;
- headers and query params: type Exact (default) or RegularExpression, at most 16 each;
- method: one of the nine HTTP methods;
- backendRefs: at most 16, weight 0-1,000,000 (default 1), a Service needs a port;
- at most 16 rules, 64 matches per rule, 16 hostnames.
Filters: RequestHeaderModifier (set, add, remove) is supported; any other filter is
refused with a clear error rather than silently ignored.
Anything the API server would reject is a UsageError (exit 2) naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.errors import UsageError

GROUP = "gateway.networking.k8s.io"
API_VERSIONS = (f"{GROUP}/v1", f"{GROUP}/v1beta1")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
MAX_WEIGHT = 1_000_000
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ValueMatch:
    """A header or query-parameter match."""

    name: str
    value: str
    type: str = "Exact"  # Exact | RegularExpression


@dataclass(frozen=True)
class Match:
    path_type: str = "PathPrefix"  # Exact | PathPrefix | RegularExpression
    path: str = "/"
    method: str | None = None
    headers: tuple[ValueMatch, ...] = ()
    query: tuple[ValueMatch, ...] = ()


@dataclass(frozen=True)
class BackendRef:
    name: str
    namespace: str
    port: int | None
    weight: int = 1
    kind: str = "Service"
    group: str = ""


@dataclass(frozen=True)
class HeaderModifier:
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    matches: tuple[Match, ...]
    backends: tuple[BackendRef, ...]
    request_headers: HeaderModifier | None = None


@dataclass(frozen=True)
class ParentRef:
    name: str
    namespace: str
    section: str | None = None


@dataclass(frozen=True)
class HTTPRoute:
    namespace: str
    name: str
    parents: tuple[ParentRef, ...]
    hostnames: tuple[str, ...]
    rules: tuple[Rule, ...]
    position: int  # in the input
    created: str | None = None  # metadata.creationTimestamp (RFC 3339 sorts as text)

    @property
    def age_key(self) -> tuple[bool, str, int]:
        """Oldest first: by creationTimestamp, then (none given) by position in the input."""
        return (self.created is None, self.created or "", self.position)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Listener:
    name: str
    port: int
    protocol: str
    hostname: str | None = None


@dataclass(frozen=True)
class Gateway:
    namespace: str
    name: str
    listeners: tuple[Listener, ...]
    implicit: bool = False  # made up for a parentRef the input did not define

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def http_port(self) -> int:
        return next((x.port for x in self.listeners if x.protocol == "HTTP"), 80)


@dataclass(frozen=True)
class ReferenceGrant:
    namespace: str  # the namespace whose objects may be referred to
    from_namespaces: tuple[str, ...]  # of HTTPRoutes
    to_names: tuple[str | None, ...]  # Service names; None = any

    def allows(self, route_ns: str, service: str) -> bool:
        return route_ns in self.from_namespaces and (
            None in self.to_names or service in self.to_names
        )


@dataclass
class GatewayConfig:
    gateways: list[Gateway] = field(default_factory=list)
    routes: list[HTTPRoute] = field(default_factory=list)
    grants: list[ReferenceGrant] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)  # v1 Services given with them


def valid_weight(weight: Any) -> bool:
    """An integer from 0 to 1,000,000 (BackendRef.weight's validation)."""
    return isinstance(weight, int) and not isinstance(weight, bool) and 0 <= weight <= MAX_WEIGHT


def shares(weights: list[int]) -> list[float]:
    """Each backendRef's share of a rule's traffic: weight / the rule's total, 0 when the
    total is 0 (then the rule answers HTTP 500)."""
    total = sum(weights)
    return [w / total if total else 0.0 for w in weights]


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


# The API's maxItems for HTTPRoute lists (httproute_types.go), by field path.
HTTPROUTE_LIMITS = {
    "spec.parentRefs": 32,
    "spec.hostnames": 16,
    "spec.rules": 16,
    "matches": 64,
    "backendRefs": 16,
    "filters": 16,
}


def _map(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, "must be a mapping")
    return value


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, "must be a list")
    if len(value) > limit:
        raise _fail(where, f"has {len(value)} entries; the API allows at most {limit}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"must be a non-empty string, not {value!r}")
    return value


def path_error(value: str) -> str | None:
    """Why the API rejects an Exact/PathPrefix value (HTTPPathMatch validation), or None."""
    if not value.startswith("/"):
        return "must start with '/'"
    for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
        if bad in value:
            return f"must not contain {bad!r}"
    if value.endswith(("/..", "/.")):
        return "must not end with '/.' or '/..'"
    return None


def _regex(value: str, where: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise _fail(where, f"is not a valid regular expression ({exc})") from None
    return value


def _value_matches(items: Any, where: str, header: bool) -> tuple[ValueMatch, ...]:
    out: list[ValueMatch] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(items, where, 16)):
        w = f"{where}[{i}]"
        item = _map(item, w)
        name = _str(item.get("name"), f"{w}.name")
        if header and not HEADER_NAME.match(name):
            raise _fail(f"{w}.name", f"{name!r} is not a valid HTTP header name")
        key = name.lower() if header else name
        if key in seen:  # the spec: later duplicates are ignored; the API may reject them
            continue
        seen.add(key)
        kind = item.get("type", "Exact")
        if kind not in ("Exact", "RegularExpression"):
            raise _fail(f"{w}.type", f"must be Exact or RegularExpression, not {kind!r}")
        value = item.get("value")
        if not isinstance(value, str) or not value:
            raise _fail(f"{w}.value", "must be a non-empty string")
        if kind == "RegularExpression":
            _regex(value, f"{w}.value")
        out.append(ValueMatch(key, value, kind))
    return tuple(out)


def _match(item: Any, where: str) -> Match:
    item = _map(item, where)
    unknown = sorted(set(item) - {"path", "headers", "queryParams", "method"})
    if unknown:
        raise _fail(where, f"unknown field {unknown[0]!r}")
    path = _map(item.get("path"), f"{where}.path")
    kind = path.get("type", "PathPrefix")
    value = path.get("value", "/")
    if kind not in ("Exact", "PathPrefix", "RegularExpression"):
        raise _fail(
            f"{where}.path.type", f"must be Exact, PathPrefix or RegularExpression, not {kind!r}"
        )
    if not isinstance(value, str) or not value:
        raise _fail(f"{where}.path.value", "must be a non-empty string")
    if kind == "RegularExpression":
        _regex(value, f"{where}.path.value")
    elif error := path_error(value):
        raise _fail(f"{where}.path.value", f"{value!r} {error}")
    method = item.get("method")
    if method is not None and method not in METHODS:
        raise _fail(f"{where}.method", f"must be one of {', '.join(METHODS)}, not {method!r}")
    return Match(
        kind,
        value,
        method,
        _value_matches(item.get("headers"), f"{where}.headers", header=True),
        _value_matches(item.get("queryParams"), f"{where}.queryParams", header=False),
    )


def _backend(item: Any, where: str, route_ns: str) -> BackendRef:
    item = _map(item, where)
    name = _str(item.get("name"), f"{where}.name")
    kind, group = item.get("kind", "Service"), item.get("group", "")
    port = item.get("port")
    if kind == "Service" and group in ("", "core") and port is None:
        raise _fail(where, "a Service backendRef must have a port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise _fail(f"{where}.port", f"must be 1-65535, not {port!r}")
    weight = item.get("weight", 1)
    if not valid_weight(weight):
        raise _fail(
            f"{where}.weight", f"must be an integer from 0 to {MAX_WEIGHT:,}, not {weight!r}"
        )
    return BackendRef(name, item.get("namespace") or route_ns, port, weight, kind, group)


def _header_modifier(item: Any, where: str) -> HeaderModifier:
    item = _map(item, where)

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        out = []
        for i, h in enumerate(_list(item.get(key), f"{where}.{key}", 16)):
            h = _map(h, f"{where}.{key}[{i}]")
            name = _str(h.get("name"), f"{where}.{key}[{i}].name")
            if not HEADER_NAME.match(name):
                raise _fail(f"{where}.{key}[{i}].name", f"{name!r} is not a valid header name")
            out.append((name, str(h.get("value", ""))))
        return tuple(out)

    remove = tuple(
        _str(n, f"{where}.remove[{i}]") for i, n in enumerate(_list(item.get("remove"), where, 16))
    )
    return HeaderModifier(pairs("set"), pairs("add"), remove)


def _rule(item: Any, where: str, route_ns: str) -> Rule:
    item = _map(item, where)
    matches = tuple(
        _match(m, f"{where}.matches[{i}]")
        for i, m in enumerate(
            _list(item.get("matches"), f"{where}.matches", HTTPROUTE_LIMITS["matches"])
        )
    ) or (Match(),)
    backends = tuple(
        _backend(b, f"{where}.backendRefs[{i}]", route_ns)
        for i, b in enumerate(
            _list(item.get("backendRefs"), f"{where}.backendRefs", HTTPROUTE_LIMITS["backendRefs"])
        )
    )
    modifier = None
    for i, f in enumerate(
        _list(item.get("filters"), f"{where}.filters", HTTPROUTE_LIMITS["filters"])
    ):
        f = _map(f, f"{where}.filters[{i}]")
        kind = f.get("type")
        if kind != "RequestHeaderModifier":
            raise _fail(
                f"{where}.filters[{i}].type",
                f"filter {kind!r} is not supported by kubenetlab's gateway "
                "(supported: RequestHeaderModifier)",
            )
        modifier = _header_modifier(f.get("requestHeaderModifier"), f"{where}.filters[{i}]")
    return Rule(matches, backends, modifier)


def _metadata(doc: dict[str, Any], where: str) -> tuple[str, str]:
    meta = _map(doc.get("metadata"), f"{where}.metadata")
    name = _str(meta.get("name"), f"{where}.metadata.name")
    namespace = meta.get("namespace", "default")
    for label, value in (("name", name), ("namespace", namespace)):
        if not isinstance(value, str) or not DNS_NAME.match(value) or len(value) > 253:
            raise _fail(f"{where}.metadata.{label}", f"{value!r} is not a valid DNS name")
    return namespace, name


def _route(doc: dict[str, Any], where: str, order: int) -> HTTPRoute:
    namespace, name = _metadata(doc, where)
    spec = _map(doc.get("spec"), f"{where}.spec")
    parents = tuple(
        ParentRef(
            _str(
                _map(p, f"{where}.spec.parentRefs[{i}]").get("name"),
                f"{where}.spec.parentRefs[{i}].name",
            ),
            p.get("namespace") or namespace,
            p.get("sectionName"),
        )
        for i, p in enumerate(
            _list(
                spec.get("parentRefs"),
                f"{where}.spec.parentRefs",
                HTTPROUTE_LIMITS["spec.parentRefs"],
            )
        )
    )
    hostnames = tuple(
        _str(h, f"{where}.spec.hostnames[{i}]")
        for i, h in enumerate(
            _list(
                spec.get("hostnames"), f"{where}.spec.hostnames", HTTPROUTE_LIMITS["spec.hostnames"]
            )
        )
    )
    for h in hostnames:
        if not HOSTNAME.match(h):
            raise _fail(f"{where}.spec.hostnames", f"{h!r} is not a valid hostname")
    rules = tuple(
        _rule(r, f"{where}.spec.rules[{i}]", namespace)
        for i, r in enumerate(
            _list(spec.get("rules"), f"{where}.spec.rules", HTTPROUTE_LIMITS["spec.rules"])
        )
    ) or (Rule((Match(),), ()),)
    if not parents:
        raise _fail(f"{where}.spec.parentRefs", "is empty: the route attaches to no Gateway")
    created = _map(doc.get("metadata"), where).get("creationTimestamp")
    return HTTPRoute(
        namespace, name, parents, hostnames, rules, order, str(created) if created else None
    )


def _gateway(doc: dict[str, Any], where: str) -> Gateway:
    namespace, name = _metadata(doc, where)
    spec = _map(doc.get("spec"), f"{where}.spec")
    listeners = []
    for i, item in enumerate(_list(spec.get("listeners"), f"{where}.spec.listeners", 64)):
        w = f"{where}.spec.listeners[{i}]"
        item = _map(item, w)
        port = item.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise _fail(f"{w}.port", f"must be 1-65535, not {port!r}")
        protocol = _str(item.get("protocol"), f"{w}.protocol")
        if protocol not in ("HTTP", "HTTPS", "TLS", "TCP", "UDP"):
            raise _fail(f"{w}.protocol", f"unknown protocol {protocol!r}")
        listeners.append(
            Listener(_str(item.get("name"), f"{w}.name"), port, protocol, item.get("hostname"))
        )
    if not listeners:
        raise _fail(f"{where}.spec.listeners", "a Gateway needs at least one listener")
    if not any(x.protocol == "HTTP" for x in listeners):
        raise _fail(f"{where}.spec.listeners", "kubenetlab's gateway serves HTTP listeners only")
    return Gateway(namespace, name, tuple(listeners))


def _grant(doc: dict[str, Any], where: str) -> ReferenceGrant:
    namespace, _ = _metadata(doc, where)
    spec = _map(doc.get("spec"), f"{where}.spec")
    froms = tuple(
        str(_map(f, where).get("namespace"))
        for f in _list(spec.get("from"), f"{where}.spec.from", 16)
        if _map(f, where).get("kind") == "HTTPRoute"
    )
    tos = tuple(
        _map(t, where).get("name")
        for t in _list(spec.get("to"), f"{where}.spec.to", 16)
        if _map(t, where).get("kind") == "Service"
    )
    return ReferenceGrant(namespace, froms, tos)


KINDS = ("Gateway", "HTTPRoute", "ReferenceGrant", "Service")


def parse(docs: list[Any], source: str = "input") -> GatewayConfig:
    """Validated objects from parsed YAML documents (None documents are skipped)."""
    config = GatewayConfig()
    for i, doc in enumerate(d for d in docs if d is not None):
        where = f"{source} document {i + 1}"
        if not isinstance(doc, dict):
            raise _fail(where, "is not a Kubernetes object (a mapping)")
        kind, api = doc.get("kind"), doc.get("apiVersion")
        if kind not in KINDS:
            raise _fail(where, f"unknown kind {kind!r} (kubenetlab reads {', '.join(KINDS)})")
        if kind == "Service":
            if api != "v1":
                raise _fail(where, f"a Service has apiVersion v1, not {api!r}")
            config.services.append(doc)
            continue
        if api not in API_VERSIONS:
            raise _fail(where, f"{kind} needs apiVersion {API_VERSIONS[0]}, not {api!r}")
        where = f"{where} ({kind})"
        if kind == "HTTPRoute":
            config.routes.append(_route(doc, where, len(config.routes)))
        elif kind == "Gateway":
            config.gateways.append(_gateway(doc, where))
        else:
            config.grants.append(_grant(doc, where))
    if not config.routes:
        raise UsageError(f"{source}: no HTTPRoute found")
    keys = [r.key for r in config.routes]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise UsageError(f"{source}: HTTPRoute {dup} is defined twice")
    for route in config.routes:  # parentRefs to Gateways the input does not define: implied
        for parent in route.parents:
            if not any(g.key == f"{parent.namespace}/{parent.name}" for g in config.gateways):
                config.gateways.append(
                    Gateway(parent.namespace, parent.name, (Listener("http", 80, "HTTP"),), True)
                )
    return config
