"""Render Gateways and their HTTPRoutes into one nginx configuration (pure).

How the Gateway API maps onto nginx:
- Matching: every (route, rule, match, hostname) becomes one regular expression over
  "host TAB method TAB path TAB header… TAB query-param…" in a `map`, in Gateway API
  precedence order (`matching.entries`); nginx's map tries regexes in the order written
  and takes the first that matches, so the first entry that matches wins, as the spec
  requires. No entry: 404.
- Splitting: one `upstream` per rule, a `server` per backend with the backendRef's
  weight (nginx's smooth weighted round robin: exact proportions, not a coin toss);
  `max_fails=0` and `proxy_next_upstream off` so a failing backend keeps its share
  instead of being skipped. Backends that cannot be resolved keep their share and point
  at a local server that answers 500; a rule with no usable weight answers 500 itself.
- Targets are the lab's Services: their ClusterIP (kube-proxy then picks the pod) when
  the lab runs a service proxy, else each ready endpoint with the weight spread evenly.
- RequestHeaderModifier: `set` and `remove` through proxy_set_header with a per-rule value.
- Every response carries `X-Gateway-Rule: namespace/name rule N`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kubenetlab.errors import UsageError
from kubenetlab.gateway.matching import Entry, ResolvedBackend, attached, entries, prefix_base
from kubenetlab.gateway.model import Gateway, GatewayConfig, HTTPRoute, Rule

ERROR_PORT = 8500  # local server answering 500 for unresolvable backends
LITERAL_SAFE = re.compile(r"[A-Za-z0-9/_-]")
VARIABLE_SAFE = re.compile(r"^[A-Za-z0-9_]+$")
ANY = "[^\\t]*"


@dataclass(frozen=True)
class Targets:
    """Where one Service port's traffic goes: (ip, port) pairs."""

    addresses: tuple[tuple[str, int], ...]


def literal(text: str) -> str:
    """A regex matching `text` exactly, written so nginx's config lexer leaves it alone."""
    return "".join(c if LITERAL_SAFE.match(c) else f"\\x{ord(c):02x}" for c in text)


def user_regex(pattern: str) -> str:
    # nginx turns \\ into \ and " ends the string inside "…"; everything else passes.
    return "(?:" + pattern.replace("\\\\", "\\x5c").replace('"', '\\"') + ")"


def _host_field(hostname: str | None) -> str:
    if hostname is None:
        return ANY
    if hostname.startswith("*."):
        return "[^\\t]+" + literal(hostname[1:])
    return literal(hostname)


def _path_field(e: Entry) -> str:
    m = e.match
    if m.path_type == "Exact":
        return literal(m.path)
    if m.path_type == "PathPrefix":
        return literal(prefix_base(m.path)) + "(?:/[^\\t]*)?"
    return user_regex(m.path)


def header_variable(name: str) -> str:
    return "$http_" + name.lower().replace("-", "_")


def check(config: GatewayConfig) -> None:
    """What this gateway cannot serve, refused before anything is built (exit 2)."""
    ports = [g.http_port for g in config.gateways]
    dup = next((p for p in ports if ports.count(p) > 1), None)
    if dup:
        raise UsageError(f"two Gateways listen on port {dup}: the lab's gateway has one address")
    for route in config.routes:
        for rule in route.rules:
            _modifications(rule)
            for name in (q.name for m in rule.matches for q in m.query):
                if not VARIABLE_SAFE.match(name):
                    raise UsageError(
                        f"query parameter {name!r}: kubenetlab's gateway (nginx $arg_) matches "
                        "names of letters, digits and '_' only"
                    )


def _fields(ordered: list[Entry]) -> tuple[list[str], list[str]]:
    headers = sorted({h.name for e in ordered for h in e.match.headers})
    query = sorted({q.name for e in ordered for q in e.match.query})
    return headers, query


def entry_regex(e: Entry, headers: list[str], query: list[str]) -> str:
    m = e.match
    fields = [_host_field(e.hostname), literal(m.method) if m.method else ANY, _path_field(e)]
    by_header = {h.name: h for h in m.headers}
    for name in headers:
        h = by_header.get(name)
        fields.append(
            ANY if h is None else literal(h.value) if h.type == "Exact" else user_regex(h.value)
        )
    by_query = {q.name: q for q in m.query}
    for name in query:
        q = by_query.get(name)
        fields.append(
            ANY if q is None else literal(q.value) if q.type == "Exact" else user_regex(q.value)
        )
    return "^" + "\\t".join(fields) + "$"


def _servers(resolved: list[ResolvedBackend], targets: dict[tuple[str, int], Targets]) -> list[str]:
    """`server` lines; weights scaled to integers so each endpoint gets weight / endpoints."""
    usable = [r for r in resolved if r.ref.weight > 0]
    counts = [
        len(targets[(f"{r.ref.namespace}/{r.ref.name}", r.ref.port or 0)].addresses)
        for r in usable
        if r.valid
    ]
    scale = math.lcm(*counts) if counts else 1
    lines = []
    for r in usable:
        name = f"{r.ref.namespace}/{r.ref.name}:{r.ref.port}"
        if not r.valid:
            lines.append(
                f"server 127.0.0.1:{ERROR_PORT} weight={r.ref.weight * scale} max_fails=0;"
                f"  # {name}: {r.reason} → 500"
            )
            continue
        addrs = targets[(f"{r.ref.namespace}/{r.ref.name}", r.ref.port or 0)].addresses
        for ip, port in addrs:
            weight = r.ref.weight * scale // len(addrs)
            lines.append(f"server {ip}:{port} weight={weight} max_fails=0;  # {name}")
    return lines


@dataclass(frozen=True)
class RuleRender:
    rule_id: str  # r1, r2, … (nginx names)
    route: HTTPRoute
    index: int
    servers: tuple[str, ...]  # empty: the rule answers 500

    @property
    def label(self) -> str:
        return f"{self.route.key} rule {self.index + 1}"


def render(
    config: GatewayConfig,
    listen_ip: str,
    state_dir: str,
    resolved: dict[tuple[str, int], list[ResolvedBackend]],
    targets: dict[tuple[str, int], Targets],
    title: str,
) -> str:
    """`resolved`: (route key, rule index) → its backends (matching.resolve)."""
    check(config)
    rules: dict[tuple[str, int], RuleRender] = {}
    for route in config.routes:
        for i in range(len(route.rules)):
            servers = tuple(_servers(resolved[(route.key, i)], targets))
            rules[(route.key, i)] = RuleRender(f"r{len(rules) + 1}", route, i, servers)
    out = [
        f"# {title}",
        "# Rendered by kubenetlab from Gateway API objects; see kubenetlab/gateway/nginx.py.",
        "worker_processes 1;",
        f"pid {state_dir}/nginx-gateway.pid;",
        f"error_log {state_dir}/nginx-gateway.log warn;",
        "events { worker_connections 4096; }",
        "",
        "http {",
        "    access_log off;",
        "    server_tokens off;",
        "    default_type text/plain;",
        *(
            f"    {kind}_temp_path {state_dir}/nginx-gateway.tmp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "",
        "    map $knl_rule $knl_rule_name {",
        '        default "";',
        *(f'        {r.rule_id} "{r.label}";' for r in rules.values()),
        "    }",
    ]
    out += _header_maps(list(rules.values()))
    for g_index, gateway in enumerate(config.gateways, 1):
        out += _gateway_block(config, gateway, g_index, listen_ip, rules)
    for r in rules.values():
        if r.servers:
            out += ["", f"    # {r.label}", f"    upstream knl_{r.rule_id} {{"]
            out += [f"        {line}" for line in r.servers]
            out += ["    }"]
    out += [
        "",
        "    # The share of backendRefs that cannot be resolved (ResolvedRefs=False).",
        "    server {",
        f"        listen 127.0.0.1:{ERROR_PORT};",
        '        return 500 "backendRef cannot be resolved\\n";',
        "    }",
        "}",
    ]
    return "\n".join(out) + "\n"


def _header_maps(rules: list[RuleRender]) -> list[str]:
    """One map per header a RequestHeaderModifier touches: rule → value ("" removes it)."""
    names = sorted(
        {n for r in rules for n in _modifications(r.route.rules[r.index])}, key=str.lower
    )
    out = []
    for name in names:
        var = "$knl_hdr_" + name.lower().replace("-", "_")
        out += ["", f"    map $knl_rule {var} {{", f"        default {header_variable(name)};"]
        for r in rules:
            mods = _modifications(r.route.rules[r.index])
            if name in mods:
                value = (
                    mods[name].replace("\\", "\\\\").replace('"', '\\"').replace("$", "${dollar}")
                )
                out.append(f'        {r.rule_id} "{value}";')
        out += ["    }"]
    if names:
        out = ['    geo $dollar { default "$"; }', *out]
    return out


def _modifications(rule: Rule) -> dict[str, str]:
    mod = rule.request_headers
    if mod is None:
        return {}
    if mod.add:
        raise UsageError(
            "RequestHeaderModifier add is not supported by kubenetlab's gateway (use set)"
        )
    changes = {name: value for name, value in mod.set}
    changes.update({name: "" for name in mod.remove})
    return changes


def _gateway_block(
    config: GatewayConfig,
    gateway: Gateway,
    g_index: int,
    listen_ip: str,
    rules: dict[tuple[str, int], RuleRender],
) -> list[str]:
    ordered = entries(attached(config, gateway))
    headers, query = _fields(ordered)
    key = "\\t".join(
        ["$host", "$request_method", "$uri"]
        + [header_variable(h) for h in headers]
        + [f"$arg_{q}" for q in query]
    )
    var = f"$knl_rule_g{g_index}"
    out = [
        "",
        f"    # Gateway {gateway.key}{' (implied by a parentRef)' if gateway.implicit else ''}:"
        f" {len(ordered)} matches, first match wins",
        f'    map "{key}" {var} {{',
        '        default "";',
    ]
    for e in ordered:
        r = rules[(e.route.key, e.rule_index)]
        target = r.rule_id if r.servers else "500"
        out.append(f"        # {e.rule_id} match {e.match_index + 1}: {_describe(e)}")
        out.append(f'        "~{entry_regex(e, headers, query)}" {target};')
    names = sorted({n for r in rules.values() for n in _modifications(r.route.rules[r.index])})
    out += [
        "    }",
        "    server {",
        f"        listen {listen_ip}:{gateway.http_port};",
        f"        set $knl_rule {var};",
        "        location / {",
        '            if ($knl_rule = "") { return 404 "no HTTPRoute rule matches\\n"; }',
        '            if ($knl_rule = "500") { return 500 "no backend can receive traffic\\n"; }',
        "            proxy_pass http://knl_$knl_rule;",
        "            proxy_next_upstream off;",
        "            proxy_set_header Host $host;",
        *(
            f"            proxy_set_header {n} $knl_hdr_{n.lower().replace('-', '_')};"
            for n in names
        ),
        "            add_header X-Gateway-Rule $knl_rule_name always;",
        "        }",
        "    }",
    ]
    return out


def _describe(e: Entry) -> str:
    m = e.match
    parts = [f"{m.path_type} {m.path}"]
    if e.hostname:
        parts.insert(0, f"host {e.hostname}")
    if m.method:
        parts.append(f"method {m.method}")
    parts += [f"header {h.name} {h.type} {h.value}" for h in m.headers]
    parts += [f"query {q.name} {q.type} {q.value}" for q in m.query]
    return ", ".join(parts).replace("\n", " ")
