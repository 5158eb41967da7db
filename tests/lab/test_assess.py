"""assess end to end: the example cluster dump (Flannel VXLAN, kube-proxy iptables, 8
Services) read, its twin and a what-if (native routing: the same proxy, so one
service-scale lab serves both; the ranking of a proxy change from service-scale figures
is a unit test) built as real labs with the upstream kube-proxy, measured with compare,
service-scale over the dump's own Services replayed through the twin's API, and churn at
the dump's churn rate, ranked, and written as JSON and one HTML page that `kubenetlab
report` also reads the results of."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.conftest import run_cli

pytestmark = pytest.mark.lab

DUMP = Path(__file__).resolve().parents[2] / "examples" / "assess" / "small-cluster.yaml"


def test_assess_measures_the_twin_and_a_what_if(tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = run_cli("assess", "-f", str(DUMP), "--what-if", "native,mtu", "--node-mtu", "1500",
                  "--pod-mtu", "1500", "--repeats", "2",
                  "--duration", "1", "--churn-seconds", "2", "--report", str(out), "-o", "json",
                  timeout=900)  # fmt: skip
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["measured"] and doc["twin"]["stack"] == "flannel"
    assert doc["detected"]["data_path"]["cni"] == "flannel"
    rows = {r["profile"]: r for r in doc["compare"]["rows"]}
    for name in ("flannel", "native+iptables"):  # the real kube-proxy programmed each
        assert rows[name]["measured"] and "(upstream, " in rows[name]["proxy"], rows[name]
    # the dump's 6 programmable Services, their 14 ready endpoints, through the twin's API
    population = doc["service_scale"]["population"]
    assert (population["services"], population["endpoints"]) == (6, 14)
    assert population["measured"] == ["kube-system/kube-dns", "shop/payments"]
    [scale] = doc["service_scale"]["rows"]
    assert (scale["proxy"], scale["services"]) == ("iptables", 6) and "(upstream" in scale[
        "implementation"]  # fmt: skip
    assert scale["crr_last"]["p50"]["median"] > 0 and scale["rules"] > 0
    # kube-proxy under the dump's churn rate (raised to one change per 2 s window)
    [row] = doc["churn"]["rows"]
    assert row["proxy"] == "iptables" and row["min_sync_period"] == "1s"
    assert [w["name"] for w in row["windows"]] == ["quiet", "churn"]
    assert doc["churn"]["settings"]["rates"] == [0.5] and row["windows"][1]["changes"] >= 1
    ranked = {r["what_if"]: r for r in doc["ranking"]}
    assert set(ranked) == {"native", "mtu"}
    native = ranked["native"]
    assert native["what_if"] == "native" and native["measured"]
    assert "host-gw" in native["change"]
    figures = {c["figure"] for c in native["changes"]}
    assert {"pod → pod TCP_RR p50 µs", "pod → pod TCP_STREAM Gbit/s",
            "TCP_CRR → ClusterIP p50 µs"} <= figures  # fmt: skip
    # the pod MTU the user gave (1500, over VXLAN's 1450 path) beside the aligned one
    cases = {(r["case"], r["pod_mtu"]) for r in doc["mtu"]["rows"]}
    assert cases == {("aligned", 1450), ("yours", 1500)} and ranked["mtu"]["measured"]
    assert "TCP_STREAM Gbit/s at the pod MTU" in " ".join(c["figure"] for c in ranked["mtu"]["changes"])
    assert "drop the pod MTU override" in ranked["mtu"]["change"]
    assert doc["compare"]["settings"]["underlay_mtu"] == 1500
    assert doc["audit"]["counts"] and any(
        f["file"].endswith("small-cluster.yaml") for f in doc["audit"]["findings"])  # fmt: skip
    page = (out / "assess.html").read_text()
    assert "What to change, by measured gain" in page and "host-gw" in page
    assert "Your own Services replayed" in page and "under your endpoint churn" in page
    assert (out / "churn.json").exists()
    assert json.loads((out / "assess.json").read_text())["ranking"] == doc["ranking"]
    for given in ([out / "compare.json", out / "service-scale.json"], [out / "assess.json"]):
        report = run_cli("report", *map(str, given), "--html", str(tmp_path / "claims.html"),
                         "-o", "json")  # fmt: skip
        assert report.returncode == 0, report.stderr
        judged = {c["claim"]: c["verdict"] for c in json.loads(report.stdout)["claims"]}
        assert judged["ebpf-bypass"] != "not measured" or judged["iptables-cpu"] != "not measured"
