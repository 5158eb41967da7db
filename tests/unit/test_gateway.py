"""Gateway API semantics: validation, PathPrefix, precedence, backend shares and resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubenetlab.errors import UsageError
from kubenetlab.gateway import matching
from kubenetlab.gateway.model import Match, parse

ROOT = Path(__file__).resolve().parents[2]
PRECEDENCE = ROOT / "tests/fixtures/gateway/precedence.yaml"


def load(path: Path):
    return parse(list(yaml.safe_load_all(path.read_text())), str(path))


# (method, path, headers, query) → the backend Service of the rule that must answer.
PRECEDENCE_CASES = [
    ("GET", "/abc", {}, {}, "prefix-abc"),
    ("GET", "/abc/", {}, {}, "prefix-abc"),
    ("GET", "/abc/x", {}, {}, "prefix-abc"),
    ("GET", "/abcd", {}, {}, None),  # PathPrefix matches whole elements only: 404
    ("GET", "/ab", {}, {}, None),
    ("GET", "/abc/exact", {}, {}, "exact"),  # Exact beats any prefix
    ("GET", "/abc/exact/more", {}, {}, "prefix-abc"),
    ("GET", "/abc/deeper", {}, {}, "prefix-deeper"),  # the longer prefix; trailing / ignored
    ("GET", "/abc/deeper/x", {}, {}, "prefix-deeper"),
    ("POST", "/abc", {"x-canary": "yes"}, {}, "method-post"),  # method beats headers
    ("GET", "/abc", {"x-canary": "yes"}, {}, "header-canary"),
    ("GET", "/abc", {"x-canary": "yes", "x-team": "payments"}, {}, "two-headers"),
    ("GET", "/abc", {"x-canary": "no"}, {}, "prefix-abc"),
    ("GET", "/abc", {}, {"version": "2"}, "query-v2"),
    ("GET", "/abc", {"x-canary": "yes"}, {"version": "2"}, "header-canary"),  # headers first
    ("GET", "/items/42", {}, {}, "regex-items"),
    ("GET", "/items/42x", {}, {}, None),  # the regex must match the whole path
]


@pytest.mark.parametrize(("method", "path", "headers", "query", "backend"), PRECEDENCE_CASES)
def test_precedence_picks_the_rule_the_spec_requires(method, path, headers, query, backend) -> None:
    config = load(PRECEDENCE)
    ordered = matching.entries(matching.attached(config, config.gateways[0]))
    chosen = matching.select(ordered, matching.Request(path, method, "gw", headers, query))
    got = chosen.rule.backends[0].name if chosen else None
    assert got == backend


def test_older_route_wins_a_full_tie_whatever_its_name_or_position() -> None:
    config = load(PRECEDENCE)
    ordered = matching.entries(config.routes)
    first_abc = next(e for e in ordered if e.match == Match("PathPrefix", "/abc"))
    assert first_abc.route.name == "b-older"


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        ("/abc", "/abc", True),
        ("/abc", "/abc/", True),
        ("/abc", "/abc/x", True),
        ("/abc", "/abcd", False),
        ("/abc/", "/abc", True),
        ("/abc/", "/abcd", False),
        ("/", "/anything", True),
        ("/", "/", True),
    ],
)
def test_path_prefix_matches_whole_path_elements(value: str, path: str, expected: bool) -> None:
    assert matching.path_matches(Match("PathPrefix", value), path) is expected


def test_hostnames_exact_and_wildcard() -> None:
    assert matching.hostname_matches("*.example.com", "foo.example.com")
    assert matching.hostname_matches("*.example.com", "a.b.example.com")
    assert not matching.hostname_matches("*.example.com", "example.com")
    assert matching.hostname_matches("shop.example.com", "Shop.Example.com:8080")
    assert matching.hostname_matches(None, "anything")


def test_shares_weights_default_zero_and_unresolved_backends() -> None:
    docs = yaml.safe_load_all(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{name: gw}]
  rules:
    - backendRefs:
        - {name: a, port: 80, weight: 3}
        - {name: b, port: 80}
        - {name: c, port: 80, weight: 0}
        - {name: gone, port: 80, weight: 1}
        - {name: other, namespace: elsewhere, port: 80}
        - {name: wrongport, port: 81}
"""
    )
    config = parse(list(docs))
    route = config.routes[0]
    services = {
        "ns/a": {80},
        "ns/b": {80},
        "ns/c": {80},
        "elsewhere/other": {80},
        "ns/wrongport": {80},
    }
    got = {
        r.ref.name: (round(r.share, 4), r.valid)
        for r in matching.resolve(route.rules[0], route, config, services)
    }
    assert got == {
        "a": (0.4286, True),  # 3 / 7
        "b": (0.1429, True),  # weight defaults to 1
        "c": (0.0, True),  # weight 0: no traffic
        "gone": (0.1429, False),  # no such Service: its share gets 500
        "other": (0.1429, False),  # another namespace without a ReferenceGrant
        "wrongport": (0.1429, False),
    }


def test_reference_grant_allows_a_cross_namespace_backend() -> None:
    docs = yaml.safe_load_all(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: other, namespace: elsewhere, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: let-ns-in, namespace: elsewhere}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ns}]
  to: [{group: "", kind: Service}]
"""
    )
    config = parse(list(docs))
    route = config.routes[0]
    [backend] = matching.resolve(route.rules[0], route, config, {"elsewhere/other": {80}})
    assert backend.valid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Ingress\napiVersion: networking.k8s.io/v1\n", "unknown kind 'Ingress'"),
        ("- just\n- a list\n", "is not a Kubernetes object"),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{backendRefs: [{name: a, port: 80, weight: -1}]}]}",
            "weight: must be an integer from 0 to 1,000,000",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{backendRefs: [{name: a}]}]}",
            "a Service backendRef must have a port",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{matches: [{path: {type: PathPrefix, value: api}}]}]}",
            "'api' must start with '/'",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{matches: [{method: FETCH}]}]}",
            "method: must be one of GET",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{filters: [{type: RequestMirror}]}]}",
            "filter 'RequestMirror' is not supported",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {rules: [{}]}",
            "the route attaches to no Gateway",
        ),
        (
            "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\n"
            "spec: {parentRefs: [{name: g}], rules: [{matches: "
            "[{path: {type: RegularExpression, value: '(['}}]}]}",
            "is not a valid regular expression",
        ),
    ],
)
def test_invalid_objects_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(list(yaml.safe_load_all(text)), "f.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_rule_without_matches_matches_everything_and_parent_gateways_are_implied() -> None:
    config = load(ROOT / "examples/gateway/article-httproute.yaml")
    assert [g.key for g in config.gateways] == ["fintech-prod/external-gateway"]
    assert config.gateways[0].implicit and config.gateways[0].http_port == 80
    rule = config.routes[0].rules[0]
    assert [(b.name, b.weight) for b in rule.backends] == [
        ("payment-service-v1", 90),
        ("payment-service-v2", 10),
    ]
