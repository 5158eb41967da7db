"""Golden tests of the nginx renderer, and nginx itself accepting every rendered file."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from kubenetlab.gateway.build import nginx_conf
from kubenetlab.spec import build_lab

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"

CASES = {
    "nginx-article": (
        "examples/gateway/article-httproute.yaml",
        "fintech-prod",
        ["payment-service-v1", "payment-service-v2"],
    ),
    "nginx-missing-backend": ("examples/gateway/missing-backend.yaml", "shop", ["checkout-v1"]),
    "nginx-precedence": (
        "tests/fixtures/gateway/precedence.yaml",
        "shop",
        [
            "prefix-abc",
            "exact",
            "prefix-deeper",
            "method-post",
            "header-canary",
            "two-headers",
            "query-v2",
            "regex-items",
            "newer-route",
        ],
    ),
    "nginx-hosts-and-headers": (
        "tests/fixtures/gateway/hosts-and-headers.yaml",
        "shop",
        ["web", "fallback"],
    ),
}


def lab_for(case: str, proxy: str | None = "iptables"):
    path, namespace, services = CASES[case]
    docs = [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]
    return build_lab(
        {
            "name": "g",
            "profile": "native",
            "nodes": 2,
            "pods_per_node": 2,
            "services": [
                {
                    "name": s,
                    "namespace": namespace,
                    "port": 80,
                    "target_port": 8080,
                    "pods": ["node1-pod1", "node2-pod2"][: 1 + i % 2],
                }
                for i, s in enumerate(services)
            ],
            "routes": [d for d in docs if d.get("kind") != "Service"],
            **({"proxy": proxy} if proxy else {}),
        }
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_nginx_config_matches_golden_and_nginx_accepts_it(case: str, tmp_path: Path) -> None:
    lab = lab_for(case)
    text = nginx_conf(lab, "/run/kubenetlab/g.d")
    golden = DATA / f"{case}.conf"
    if os.environ.get("KNL_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    # nginx -t binds its listen sockets: do it in a throwaway namespace, on its loopback.
    conf = tmp_path / "nginx.conf"
    # (In a user namespace only root is mapped, so the workers may not switch to nobody.)
    text = nginx_conf(lab, str(tmp_path)).replace(str(lab.gateway_ip), "127.0.0.1")
    conf.write_text("user root root;\n" + text)
    (tmp_path / "nginx-gateway.tmp").mkdir()
    check = subprocess.run(
        [
            "unshare",
            "-rn",
            "sh",
            "-c",
            'ip link set lo up && exec nginx -t -e "$0" -c "$1"',
            str(tmp_path / "err.log"),
            str(conf),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_weights_spread_over_endpoints_when_no_proxy_runs() -> None:
    # Without a service proxy the gateway targets pods: weight / endpoints each, scaled to
    # integers (90/10 over 1 and 2 pods: 180 and 10 + 10).
    lab = lab_for("nginx-article")
    lab = dataclasses.replace(lab, proxy=None)
    text = nginx_conf(lab, "/s")
    assert "server 10.244.0.2:8080 weight=180 max_fails=0;" in text
    assert "server 10.244.0.2:8080 weight=10 max_fails=0;" in text
    assert "server 10.244.1.3:8080 weight=10 max_fails=0;" in text
