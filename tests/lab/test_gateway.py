"""Gateway API through a real nginx in the lab: splits, 500s, 404s and precedence."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from kubenetlab.kernel import netns
from tests.lab.conftest import run_cli
from tests.lab.helpers import lab, lab_exec
from tests.unit.test_gateway import PRECEDENCE, PRECEDENCE_CASES

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def canary(*args: str) -> tuple[int, dict]:
    out = run_cli("scenario", "canary", *args, "-o", "json", timeout=600)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def shares(doc: dict) -> dict[str, tuple[float, float, bool]]:
    return {
        b["backend"]: (b["expected_share"], b["observed_share"], b["passed"])
        for b in doc["backends"]
    }


def test_the_articles_httproute_unchanged_splits_90_10_within_the_conformance_tolerance() -> None:
    code, doc = canary("-f", "examples/gateway/article-httproute.yaml")
    assert code == 0 and doc["passed"] and doc["requests"] == 2000
    got = shares(doc)
    v1, v2 = got["fintech-prod/payment-service-v1"], got["fintech-prod/payment-service-v2"]
    assert v1[0] == 0.9 and abs(v1[1] - 0.9) <= 0.05
    assert v2[0] == 0.1 and abs(v2[1] - 0.1) <= 0.05
    assert doc["statuses"] == {"200": 2000} and doc["rule_agrees"]
    lat = doc["latency_us"]
    assert lat["through_gateway"]["p50"] > 0 and lat["direct_to_pod"]["p50"] > 0
    assert lat["direct_to_service"]["p50"] > 0 and lat["nginx_over_clusterip_p50_us"] is not None


def test_conformance_70_30_0_gives_the_zero_weight_backend_nothing() -> None:
    code, doc = canary(
        "-f", "tests/fixtures/audit/gateway/weights-70-30-0.yaml", "--requests", "1000"
    )
    assert code == 0 and doc["passed"]
    got = shares(doc)
    assert abs(got["gateway-conformance-infra/infra-backend-v1"][1] - 0.7) <= 0.05
    assert abs(got["gateway-conformance-infra/infra-backend-v2"][1] - 0.3) <= 0.05
    zero = next(b for b in doc["backends"] if b["backend"].endswith("infra-backend-v3"))
    assert zero["count"] == 0 and zero["weight"] == 0


def test_missing_backend_gets_500_for_its_share_and_an_unmatched_path_gets_404() -> None:
    code, doc = canary("-f", "examples/gateway/missing-backend.yaml", "--requests", "600")
    assert code == 0, doc
    got = shares(doc)
    assert abs(got["shop/checkout-v1"][1] - 0.5) <= 0.05
    assert abs(got["HTTP 500 (unresolved backendRef)"][1] - 0.5) <= 0.05
    assert set(doc["statuses"]) == {"200", "500"}
    code, doc = canary(
        "-f", "examples/gateway/missing-backend.yaml", "--requests", "50", "--path", "/checkoutx"
    )
    assert code == 0 and doc["rule"] is None and doc["statuses"] == {"404": 50}


def test_nginx_answers_every_request_from_the_rule_the_matcher_chooses(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(PRECEDENCE.read_text()) if d]
    backends = sorted(
        {
            b["name"]
            for d in docs
            if d["kind"] == "HTTPRoute"
            for r in d["spec"]["rules"]
            for b in r["backendRefs"]
        }
    )
    pods = [f"node{1 + i % 2}-pod{1 + i // 2}" for i in range(len(backends))]
    spec = {
        "name": "t-gw",
        "profile": "vxlan",
        "nodes": 2,
        "pods_per_node": (len(backends) + 1) // 2,
        "services": [
            {"name": b, "namespace": "shop", "port": 80, "target_port": 8080, "pods": [p]}
            for b, p in zip(backends, pods, strict=True)
        ],
        "routes": docs,
    }
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(spec))
    by_pod = dict(zip(pods, backends, strict=True))
    with lab("-f", str(path), "--name", "t-gw") as doc:
        gateway = doc["gateway"]["ip"]
        for method, req_path, headers, query, expected in PRECEDENCE_CASES:
            qs = "&".join(f"{k}={v}" for k, v in query.items())
            argv = [
                sys.executable,
                "-m",
                "kubenetlab.gateway.loadgen",
                "-n",
                "1",
                "-c",
                "1",
                "--url",
                f"http://{gateway}:8081{req_path}" + (f"?{qs}" if qs else ""),
                "--method",
                method,
            ]
            for name, value in headers.items():
                argv += ["--header", f"{name}: {value}"]
            out = lab_exec("t-gw", "client", *argv)
            assert out.returncode == 0, out.stderr
            [[status, pod, *_]] = json.loads(out.stdout)["results"]
            if expected is None:
                assert status == 404, (method, req_path, headers, query)
            else:
                assert (status, by_pod.get(pod)) == (200, expected), (method, req_path, headers)


def test_invalid_routes_are_refused_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
        "spec: {parentRefs: [{name: g}], rules: [{backendRefs: [{name: a, port: 80, weight: 2000000}]}]}\n"
    )
    for args in (
        ("scenario", "canary", "-f", str(bad)),
        ("lab", "up", "--name", "t-bad", "--routes", str(bad)),
    ):
        out = run_cli(*args)
        assert out.returncode == 2, out.stderr
        assert "weight: must be an integer from 0 to 1,000,000" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    (tmp_path / "notyaml.yaml").write_text("kind: [unclosed\n")
    out = run_cli("scenario", "canary", "-f", str(tmp_path / "notyaml.yaml"))
    assert out.returncode == 2 and "invalid YAML" in out.stderr
    assert not [n for n in netns.list_netns() if n.startswith(("knl-t-bad-", "knl-canary-"))]


FETCH = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)
c.request("GET", "/", headers={"X-Env": "dev", "X-Debug": "1", "X-Keep": "yes"})
r = c.getresponse(); print(r.status); print(r.read().decode(), end="")
"""


def test_request_header_modifier_sets_and_removes_headers_on_the_way_to_the_backend(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "name: t-hdr\nprofile: native\nnodes: 2\npods_per_node: 1\n"
        "services: [{name: web, namespace: shop, port: 80, target_port: 8080, pods: [node2-pod1]}]\n"
        f"routes: {ROOT / 'tests/fixtures/gateway/header-modifier.yaml'}\n"
    )
    with lab("-f", str(spec), "--name", "t-hdr") as doc:
        out = lab_exec("t-hdr", "client", sys.executable, "-c", FETCH, doc["gateway"]["ip"])
        assert out.returncode == 0, out.stderr
        status, first, *headers = out.stdout.splitlines()
        assert status == "200" and first.startswith("node2-pod1 ")
        assert "x-env: prod" in headers and "x-keep: yes" in headers
        assert not any(h.startswith("x-debug") for h in headers), headers
