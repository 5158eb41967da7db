"""`scenario etp`: externalTrafficPolicy on a NodePort with real connections from the
external client — Local keeps the client IP on the backend's node and drops on the other
(health check 503 there); Cluster answers everywhere, SNATing when the backend is remote.
Its JSON then feeds the report's claim."""

from __future__ import annotations

import json

import pytest

from kubenetlab.claims import Evidence
from kubenetlab.report.html_report import judge_all
from tests.lab.conftest import run_cli

pytestmark = pytest.mark.lab


def test_etp_rows_for_kube_proxy_and_ebpf(tmp_path) -> None:
    out = run_cli(
        "scenario", "etp", "--proxy", "iptables,ebpf", "--requests", "4", "--report",
        str(tmp_path), "-o", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "etp" and doc["passed"] is True
    rows = {(r["proxy"], r["policy"], r["node"]): r for r in doc["rows"]}
    assert len(rows) == 8
    client = doc["client_ip"]
    for proxy in ("iptables", "ebpf"):
        kept = rows[(proxy, "Local", "node2")]
        assert (kept["answered"], kept["sources_seen"], kept["health_check"]) == (
            4,
            {client: 4},
            200,
        )
        dropped = rows[(proxy, "Local", "node1")]
        assert dropped["answered"] == 0 and dropped["failures"] == {"TimeoutError": 4}
        assert dropped["health_check"] == 503
        remote = rows[(proxy, "Cluster", "node1")]
        assert remote["answered"] == 4 and client not in remote["sources_seen"]
    # With the backend on the receiving node, kube-proxy still masquerades; Cilium's eBPF
    # NodePort does not need to, and keeps the client's address.
    assert client not in rows[("iptables", "Cluster", "node2")]["sources_seen"]
    assert rows[("ebpf", "Cluster", "node2")]["sources_seen"] == {client: 4}
    judged = {c.id: v for c, v in judge_all(Evidence({"etp": doc}))}
    assert judged["etp-local"].status == "reproduced"
    assert (tmp_path / "etp.json").exists() and (tmp_path / "etp.csv").exists()
