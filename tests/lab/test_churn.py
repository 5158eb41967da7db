"""`scenario churn` on a real lab with the upstream kube-proxy (iptables mode, the
article's; nftables mode runs the same code but for its rule count, which it does not
export — tests/unit/test_kube_proxy_semantics.py): 100 Services through the lab's API,
then 6 s quiet and 6 s with 5 EndpointSlice changes a second. The figures must be real:
a sync about once per minSyncPeriod under churn, the proxy's CPU above zero and below a
core, and its cgroup's CPU in agreement with /proc/PID/stat of kube-proxy and the
iptables-restore children it waited for."""

from __future__ import annotations

import json

import pytest

from tests.lab.conftest import run_cli

# Alone (tests/lab/conftest.py): it measures kube-proxy's CPU, which another test's load would share.
pytestmark = [pytest.mark.lab, pytest.mark.serial]


def test_churn_syncs_once_per_min_sync_period_and_its_cpu_is_real(tmp_path) -> None:
    out = run_cli(
        "scenario", "churn", "--proxy", "iptables", "--services", "100", "--rate", "5",
        "--duration", "6", "--report", str(tmp_path), "-o", "json", timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "churn" and [r["proxy"] for r in doc["rows"]] == ["iptables"]
    for row in doc["rows"]:
        assert row["implementation"].startswith("kube-proxy v1.36") and row["create_seconds"] > 0
        quiet, busy = row["windows"]
        assert quiet["name"] == "quiet" and busy["name"] == "churn"
        assert busy["changes"] >= 24 and busy["achieved_rate"] >= 4.0, busy  # 5/s asked, 6 s
        # minSyncPeriod 1 s, changes all the time: a sync about every second, no more
        assert 0.6 * busy["seconds"] <= busy["syncs"] <= 1.3 * busy["seconds"] + 2, busy
        assert quiet["syncs"] <= 2, quiet  # nothing changed
        assert busy["sync_p50_ms"] is not None and busy["programming_p99_ms"] is not None
        for node in busy["nodes"]:
            cgroup, proc = node["proxy_percent_of_core"], node["proc_percent_of_core"]
            assert 0 < cgroup < 100, node
            # the cgroup counts kube-proxy and every child; /proc the process and the
            # children it waited for: the same CPU, within 10 % (and a clock tick)
            assert abs(cgroup - proc) <= 0.1 * cgroup + 100 * 0.01 / busy["seconds"], node
        assert busy["proxy_percent_of_core"] > quiet["proxy_percent_of_core"]
        assert busy["proxy_percent_of_node"] == max(
            n["proxy_percent_of_node"] for n in busy["nodes"]
        )
        # nat + filter: more than one rule per Service
        assert busy["rules"] > 100 and 0 < busy["rules_last_sync"] <= busy["rules"], busy
        assert busy["apiserver_percent_of_core"] > 0 and busy["etcd_percent_of_core"] > 0
        assert quiet["crr"]["p50_us"] > 0 and busy["crr"]["p50_us"] > 0
        assert 0 <= busy["crr"]["steal_percent"] <= 100  # the hypervisor's share, said
        assert row["iptables_backend"] == "nft"  # --proxy iptables: the nft family
    for name in ("churn.json", "churn.csv"):
        assert (tmp_path / name).stat().st_size > 0
