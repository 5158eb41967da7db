"""`kubenetlab scenario canary -f route.yaml`: prove an HTTPRoute's traffic split with requests.

The file holds HTTPRoutes (and optionally Gateways, ReferenceGrants and v1 Services).
kubenetlab builds a 2-node lab: one Service per backendRef (or exactly the Services the
file defines, so a backendRef to anything else stays unresolved), each with its own pods
running an HTTP server that names itself in `X-Backend`; the lab's kube-proxy rules;
and nginx in a gateway namespace rendered from the routes. From the client namespace it
sends N requests (C at a time, a new connection each) through the gateway to the path
the first rule matches, and counts which Service answered.

Per backend: expected share (weight / sum of weights; an unresolvable backend's share
expected as HTTP 500), observed share with its 95% Wilson interval, and the Gateway API
conformance check (`conformance/tests/httproute-weight.go`): every observed share within
±0.05 of the expected one, a weight-0 backend receiving nothing. Latency through the
gateway against the same requests sent straight to a backend pod (the L7 hop's cost):
from the gateway's namespace, one request at a time, alternating between the two, so
the load generator's queueing and the host's drift stay out of the difference. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.bench.stats import histogram_of, latency_summary_us, wilson_interval
from kubenetlab.errors import KnlError, UsageError
from kubenetlab.gateway import matching
from kubenetlab.gateway.build import config_of, resolved
from kubenetlab.gateway.model import GatewayConfig, Match, parse
from kubenetlab.inputs import load_yaml_documents
from kubenetlab.kernel import preflight, procs
from kubenetlab.live import running
from kubenetlab.model import Lab
from kubenetlab.scenarios.base import Scenario, ScenarioReport, run_lab_name
from kubenetlab.spec import build_lab

LAB = run_lab_name("canary")
TOLERANCE = 0.05  # conformance/tests/httproute-weight.go
BACKEND_PORT = 8080
ERROR = "HTTP 500 (unresolved backendRef)"
NOT_FOUND = "HTTP 404 (no rule matches)"


@dataclass(frozen=True)
class CanarySettings:
    requests: int = 2000
    concurrency: int = 10
    replicas: int = 2
    profile: str = "native"
    path: str | None = None  # default: what the first rule's first match accepts
    method: str | None = None
    host: str | None = None
    latency_requests: int = 500  # one at a time, through the gateway and straight to a pod
    docs: tuple[Any, ...] = field(default=(), compare=False)  # the route file's objects
    source: str = "routes"  # where they came from, for messages

    def __post_init__(self) -> None:
        if self.requests < 1 or self.requests > 1_000_000:
            raise UsageError(f"requests must be 1-1000000, not {self.requests}")
        if not 1 <= self.concurrency <= 256:
            raise UsageError(f"concurrency must be 1-256, not {self.concurrency}")
        if not 1 <= self.replicas <= 16:
            raise UsageError(f"replicas must be 1-16, not {self.replicas}")


@dataclass
class BackendRow:
    name: str  # namespace/name, or ERROR for the share answered 500
    weight: int
    expected: float
    count: int
    reason: str | None = None

    def observed(self, total: int) -> float:
        return self.count / total if total else 0.0

    def passed(self, total: int) -> bool:
        if self.expected == 0:
            return self.count == 0
        return abs(self.observed(total) - self.expected) <= TOLERANCE


@dataclass
class CanaryReport(ScenarioReport):
    settings: CanarySettings
    request: dict[str, Any]
    rule: str | None
    backends: list[BackendRow] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    rules_seen: dict[str, int] = field(default_factory=dict)
    gateway_latency: dict[str, float] = field(default_factory=dict)
    direct_latency: dict[str, float] = field(default_factory=dict)
    service_latency: dict[str, float] = field(default_factory=dict)
    direct_target: str = ""
    service_target: str = ""
    total: int = 0
    seconds: float = 0.0
    file_stem = "canary"

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def rule_agrees(self) -> bool:
        """nginx answered every matched request from the rule kubenetlab's matcher chose."""
        expected = self.rule or ""
        return set(self.rules_seen) <= {expected}

    @property
    def passed(self) -> bool:
        return self.rule_agrees and all(b.passed(self.total) for b in self.backends)

    def to_dict(self) -> dict[str, Any]:
        overhead = nginx_cost = None
        if self.gateway_latency and self.direct_latency:
            overhead = round(self.gateway_latency["p50"] - self.direct_latency["p50"], 1)
        if self.gateway_latency and self.service_latency:
            nginx_cost = round(self.gateway_latency["p50"] - self.service_latency["p50"], 1)
        return {
            "schema_version": 1,
            "request": self.request,
            "rule": self.rule,
            "requests": self.total,
            "concurrency": self.settings.concurrency,
            "tolerance": TOLERANCE,
            "backends": [
                {
                    "backend": b.name,
                    "weight": b.weight,
                    "expected_share": round(b.expected, 4),
                    "count": b.count,
                    "observed_share": round(b.observed(self.total), 4),
                    "ci95": [round(x, 4) for x in wilson_interval(b.count, self.total)],
                    "passed": b.passed(self.total),
                    "reason": b.reason,
                }
                for b in self.backends
            ],
            "statuses": self.statuses,
            "non_2xx": sum(n for s, n in self.statuses.items() if not s.startswith("2")),
            "gateway_rules_seen": self.rules_seen,
            "rule_agrees": self.rule_agrees,
            "latency_us": {
                "through_gateway": self.gateway_latency,
                "direct_to_service": self.service_latency,
                "service_target": self.service_target,
                "direct_to_pod": self.direct_latency,
                "direct_target": self.direct_target,
                "gateway_overhead_p50_us": overhead,
                "nginx_over_clusterip_p50_us": nginx_cost,
                "requests_each": self.settings.latency_requests,
                "tool": "kubenetlab.gateway.loadgen (Python http.client, new connection each, "
                "one at a time, gateway and pod alternating, from the gateway's namespace)",
            },
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
        }


def _service_specs(config: GatewayConfig) -> list[dict[str, Any]]:
    """Lab Services: those the file defines, else one per backendRef to a Service."""
    specs: dict[str, dict[str, Any]] = {}
    if config.services:
        for doc in config.services:
            meta = doc.get("metadata") or {}
            ports = (doc.get("spec") or {}).get("ports") or [{}]
            port = ports[0].get("port", 80)
            key = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
            specs[key] = {
                "name": meta.get("name"),
                "namespace": meta.get("namespace", "default"),
                "port": port,
            }
    else:
        for route in config.routes:
            for rule in route.rules:
                for b in rule.backends:
                    if b.kind == "Service" and b.group in ("", "core") and b.port:
                        specs.setdefault(
                            f"{b.namespace}/{b.name}",
                            {"name": b.name, "namespace": b.namespace, "port": b.port},
                        )
    return list(specs.values())


def lab_spec(config: GatewayConfig, docs: list[Any], settings: CanarySettings) -> dict[str, Any]:
    services = _service_specs(config)
    nodes = 2
    per_node = max(1, math.ceil(len(services) * settings.replicas / nodes))
    slots = [f"node{n}-pod{p}" for p in range(1, per_node + 1) for n in range(1, nodes + 1)]
    for i, svc in enumerate(services):
        svc["target_port"] = BACKEND_PORT
        svc["pods"] = slots[i * settings.replicas : (i + 1) * settings.replicas]
    return {
        "name": LAB,
        "profile": settings.profile,
        "nodes": nodes,
        "pods_per_node": per_node,
        "services": services,
        "routes": [d for d in docs if isinstance(d, dict) and d.get("kind") != "Service"],
    }


def _default_request(config: GatewayConfig, settings: CanarySettings) -> matching.Request:
    route = config.routes[0]
    m: Match = route.rules[0].matches[0]
    if settings.path is None and m.path_type == "RegularExpression":
        raise UsageError(
            f"{route.key} rule 1 matches paths by regular expression: give --path to request"
        )
    host = settings.host or next(iter(route.hostnames), "gateway").replace("*", "canary")
    return matching.Request(
        path=settings.path or m.path,
        method=settings.method or m.method or "GET",
        host=host,
        headers={h.name: h.value for h in m.headers if h.type == "Exact"},
        query={q.name: q.value for q in m.query if q.type == "Exact"},
    )


def plan(settings: CanarySettings) -> tuple[Lab, matching.Request]:
    """Everything checked before anything starts: bad input is exit 2 with nothing built."""
    docs = list(settings.docs)
    config = parse(docs, settings.source)
    lab = build_lab(lab_spec(config, docs, settings))
    return lab, _default_request(config, settings)


def _loadgen(
    ns: str, urls: str | list[str], n: int, c: int, req: matching.Request
) -> list[list[Any]]:
    argv = [
        sys.executable,
        "-m",
        "kubenetlab.gateway.loadgen",
        *(a for u in ([urls] if isinstance(urls, str) else urls) for a in ("--url", u)),
        "-n",
        str(n),
        "-c",
        str(c),
        "--method",
        req.method,
        "--host",
        req.host,
    ]
    for name, value in req.headers.items():
        argv += ["--header", f"{name}: {value}"]
    out = procs.run_in(ns, argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise KnlError(f"load generator failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)["results"]


def _url(ip: str, port: int, req: matching.Request) -> str:
    query = "&".join(f"{k}={v}" for k, v in req.query.items())
    return f"http://{ip}:{port}{req.path}" + (f"?{query}" if query else "")


def run(settings: CanarySettings, on_step: Callable[[str], None] | None = None) -> CanaryReport:
    lab, req = plan(settings)
    preflight.require_root("scenario canary")
    config = config_of(lab)
    gateway = config.gateways[0]
    ordered = matching.entries(matching.attached(config, gateway))
    chosen = matching.select(ordered, req)
    report = CanaryReport(
        settings,
        {
            "method": req.method,
            "host": req.host,
            "path": req.path,
            "headers": req.headers,
            "query": req.query,
            "gateway": gateway.key,
        },
        chosen.rule_id if chosen else None,
    )
    started = time.monotonic()
    if on_step:
        on_step("building the lab and the gateway")
    with running(lab):
        assert lab.gateway_ip is not None and lab.client_netns and lab.gateway_netns
        if on_step:
            on_step(f"{settings.requests} requests through the gateway")
        url = _url(str(lab.gateway_ip), gateway.http_port, req)
        results = _loadgen(lab.client_netns, url, settings.requests, settings.concurrency, req)
        pod_service = {e.pod: svc.key for svc in lab.services for e in svc.endpoints}
        found = _direct_endpoint(lab, config, chosen)
        probe: list[list[Any]] = []
        if found is not None:
            svc, direct = found
            if on_step:
                on_step(f"latency: {settings.latency_requests} requests one at a time each way")
            report.direct_target = f"{direct.pod} {direct.ip}:{BACKEND_PORT}"
            report.service_target = f"{svc.key} {svc.cluster_ip}:{svc.ports[0].port}"
            # From the gateway's namespace, one at a time, rotating request by request:
            # through nginx (its own address), to the Service's ClusterIP (kube-proxy's
            # DNAT on the first node), straight to a pod; drift hits all three alike.
            probe = _loadgen(
                lab.gateway_netns,
                [
                    url,
                    _url(svc.cluster_ip, svc.ports[0].port, req),
                    _url(direct.ip, BACKEND_PORT, req),
                ],
                3 * settings.latency_requests,
                1,
                req,
            )
    report.seconds = time.monotonic() - started
    _tally(report, lab, config, chosen, results, pod_service)
    if probe:
        report.gateway_latency = _latency([r for r in probe if r[4] == 0])
        report.service_latency = _latency([r for r in probe if r[4] == 1])
        report.direct_latency = _latency([r for r in probe if r[4] == 2])
    return report


def _latency(results: list[list[Any]]) -> dict[str, float]:
    ok = [r[3] * 1000 for r in results if 200 <= r[0] < 300]  # µs → ns
    return latency_summary_us(histogram_of(ok)) if ok else {}


def _direct_endpoint(lab: Lab, config: GatewayConfig, chosen: matching.Entry | None) -> Any:
    """The chosen rule's first usable backend Service and one of its pods: the baselines
    without the gateway."""
    if chosen is None:
        return None
    for b in resolved(lab, config)[(chosen.route.key, chosen.rule_index)]:
        if b.valid and b.ref.weight:
            svc = lab.service(f"{b.ref.namespace}/{b.ref.name}")
            return (svc, svc.endpoints[0]) if svc.endpoints else None
    return None


def _tally(
    report: CanaryReport,
    lab: Lab,
    config: GatewayConfig,
    chosen: matching.Entry | None,
    results: list[list[Any]],
    pod_service: dict[str | None, str],
) -> None:
    report.total = len(results)
    report.statuses = dict(sorted(Counter(str(r[0]) for r in results).items()))
    report.rules_seen = dict(Counter(r[2] for r in results if r[0] != 404 and r[2]))
    served = Counter(pod_service.get(r[1], r[1]) for r in results if 200 <= r[0] < 300)
    errors = sum(1 for r in results if r[0] == 500)
    if chosen is None:  # no rule matches: the gateway must answer 404 to everything
        report.backends.append(BackendRow(NOT_FOUND, 0, 1.0, report.statuses.get("404", 0)))
    else:
        backends = resolved(lab, config)[(chosen.route.key, chosen.rule_index)]
        error_share = 0.0
        for b in backends:
            key = f"{b.ref.namespace}/{b.ref.name}"
            if b.valid:
                report.backends.append(BackendRow(key, b.ref.weight, b.share, served.get(key, 0)))
            else:
                error_share += b.share
                row = BackendRow(f"{key} (unresolved → 500)", b.ref.weight, 0.0, 0, b.reason)
                report.backends.append(row)
        if error_share or errors or not any(b.valid and b.share for b in backends):
            expected = error_share if any(b.valid and b.share for b in backends) else 1.0
            report.backends.append(BackendRow(ERROR, 0, expected, errors))


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", required=True, help="HTTPRoute(s), Gateways, Services")
    parser.add_argument("--requests", type=int, default=2000, help="requests through the gateway")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight")
    parser.add_argument("--replicas", type=int, default=2, help="pods per backend Service")
    parser.add_argument("--profile", default="native", help="routing profile of the lab")
    parser.add_argument("--path", help="request path (default: what the first rule matches)")
    parser.add_argument("--method", help="request method (default: the match's, or GET)")
    parser.add_argument("--host", help="Host header (default: the route's first hostname)")


def settings_from(args: argparse.Namespace) -> CanarySettings:
    settings = CanarySettings(
        requests=args.requests,
        concurrency=args.concurrency,
        replicas=args.replicas,
        profile=args.profile,
        path=args.path,
        method=args.method,
        host=args.host,
        docs=tuple(load_yaml_documents(args.file)),
        source=args.file,
    )
    plan(settings)  # bad routes: exit 2 before anything starts
    return settings


SCENARIO = Scenario(
    "canary",
    "HTTPRoute weighted split through a real gateway, checked with requests",
    arguments,
    settings_from,
    lambda settings: 3,
    run,
    "example:\n  kubenetlab scenario canary -f examples/gateway/article-httproute.yaml --requests 2000",
)
