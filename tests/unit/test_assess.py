"""assess's reading of a cluster, from the dump in examples/assess (as `kubectl get … -o
yaml` prints it): every fact with its source, what a partial dump cannot tell named, the
twin and the what-ifs that apply — and a broken dump a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubenetlab.assess import profile, snapshot, twin
from kubenetlab.errors import UsageError

DUMP = Path(__file__).parents[2] / "examples" / "assess" / "small-cluster.yaml"


def _items() -> list[dict]:
    return yaml.safe_load(DUMP.read_text())["items"]


def _write(tmp_path: Path, items: list[dict], name: str = "dump.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return str(path)


def test_the_example_dump_is_read_with_every_facts_source() -> None:
    found = profile.profile(snapshot.from_files([str(DUMP)]))
    facts = {f.name: (f.value, f.source) for f in found.facts}
    assert facts["Services"][0] == "8" and facts["nodes"][0] == "3"
    assert facts["CNI"] == ("flannel", "DaemonSet kube-flannel/kube-flannel-ds")
    assert facts["flannel backend"][0] == "vxlan"
    assert facts["kube-proxy mode"] == ("iptables", "ConfigMap kube-system/kube-proxy "
                                        "config.conf: mode (unset: iptables)")  # fmt: skip
    assert facts["kube-proxy minSyncPeriod"][1].endswith("iptables.minSyncPeriod")
    assert found.services["etp_local"] == 1 and found.services["headless"] == 1
    assert found.services["ports_per_service"]["max"] == 3  # kube-dns: dns, dns-tcp, metrics
    assert found.endpoints["total"] == 16 and found.endpoints["per_service"]["median"] == 2
    assert found.endpoints["busiest_node"] == {"name": "worker-2", "share": 0.5}
    # 36 slice changes since 2 Nov; three slices written in the dump's last ten minutes
    assert found.churn["changes"] == 36 and found.churn["slices_written_recently"] == 3
    assert {u.name for u in found.unknown} == {"pod MTU", "node MTU"}


def test_the_twin_and_its_what_ifs() -> None:
    found = profile.profile(snapshot.from_files([str(DUMP)]))
    plan = twin.plan(found)
    assert (plan.stack, plan.nodes, plan.services, plan.endpoints_per_service) == (
        "flannel", 3, 8, 2)  # fmt: skip
    stacks = {w.name: w.stack for w in plan.what_ifs}
    assert stacks == {"native": "native+iptables", "nftables": "flannel+nftables",
                      "ebpf": "flannel+ebpf", "dsr": "cilium-dsr"}  # fmt: skip
    assert "host-gw" in next(w.change for w in plan.what_ifs if w.name == "native")
    assert "mtu" in plan.not_applicable
    cilium = twin.plan(found, stack="cilium")
    assert "ebpf" in cilium.not_applicable and "native" in cilium.not_applicable
    with pytest.raises(UsageError, match="a twin has 2 to 8 nodes"):
        twin.plan(found, nodes=1)
    with pytest.raises(UsageError, match="--stack 'bogus': not a lab stack"):
        twin.plan(found, stack="bogus")


def test_a_partial_dump_says_what_it_could_not_tell(tmp_path: Path) -> None:
    only_services = [i for i in _items() if i["kind"] == "Service"]
    found = profile.profile(snapshot.from_files([_write(tmp_path, only_services)]))
    unknown = {u.name: u.why for u in found.unknown}
    for kind in ("EndpointSlice", "Node", "DaemonSet", "ConfigMap"):
        assert f"{kind} objects" in unknown
    assert found.data_path.cni.startswith("unknown") and "endpoint churn" in unknown
    assert "the lab stack that models it" in unknown
    with pytest.raises(UsageError, match=r"no lab model .* with --stack"):
        twin.plan(found)
    assert twin.plan(found, stack="flannel").services == 8
    weave = [
        i for i in _items() if i["kind"] != "DaemonSet" or "flannel" not in i["metadata"]["name"]
    ]
    weave.append({"apiVersion": "apps/v1", "kind": "DaemonSet",
                  "metadata": {"name": "weave-net", "namespace": "kube-system"}})  # fmt: skip
    unknown_cni = profile.profile(snapshot.from_files([_write(tmp_path, weave, "w.yaml")]))
    assert unknown_cni.data_path.cni == "weave" and unknown_cni.data_path.model is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubenetlab", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_assess_plan_from_the_cli_and_its_errors(tmp_path: Path) -> None:
    got = _cli("assess", "-f", str(DUMP), "--plan", "-o", "json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["kind"] == "assess" and doc["twin"]["stack"] == "flannel"
    assert doc["detected"]["data_path"]["model"] == "flannel"
    table = _cli("assess", "-f", str(DUMP), "--plan")
    assert "twin: lab stack flannel" in table.stdout and "kube-flannel-cfg" in table.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: 7\n")
    for args, message in (
        (("-f", str(broken)), "broken.yaml:5"),
        ((), "give --kubeconfig FILE or -f DUMP"),
        (("-f", str(DUMP), "--what-if", "magic"), "--what-if 'magic'"),
        (("-f", str(tmp_path / "missing.yaml")), "missing.yaml"),
    ):
        bad = _cli("assess", *args, "--plan")
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_what_ifs_are_ranked_by_their_largest_gain_outside_the_noise() -> None:
    """From a real compare (native, flannel, calico-bgp, cilium, cilium-dsr rows) and a
    real service-scale (iptables, nftables, ebpf at 5,000 Services)."""
    from kubenetlab.assess.rank import ranking

    results = Path(__file__).parents[1] / "fixtures" / "results"
    compare = json.loads((results / "compare.json").read_text())
    scale = json.loads((results / "service-scale.json").read_text())
    plan = twin.TwinPlan("flannel", "test", 3, 5000, 3, None, what_ifs=[
        twin.WhatIf("native", "calico-bgp", "host-gw"), twin.WhatIf("ebpf", "cilium", "kpr"),
        twin.WhatIf("nftables", "flannel+nftables", "mode: nftables")])  # fmt: skip
    proxies = {"flannel": "iptables", "calico-bgp": "iptables", "cilium": "ebpf",
               "flannel+nftables": "nftables"}  # fmt: skip
    ranked = ranking(plan, compare, scale, proxies)
    by_name = {r["what_if"]: r for r in ranked}
    ebpf = {c["figure"]: c for c in by_name["ebpf"]["changes"]}
    rr = ebpf["pod → pod TCP_RR p50 µs"]
    assert rr["tool"].startswith("sockperf")  # each figure names what measured it
    assert ebpf["programming all Services, s"]["tool"].startswith("service-scale")
    assert ebpf["TCP_CRR → the last Service p50 µs"]["tool"].startswith("kubenetlab knl-rr")
    assert rr["now"]["median"] > rr["then"]["median"] and rr["gain_percent"] > 0
    assert "TCP_CRR → the last Service p50 µs" in ebpf  # iptables vs ebpf at 5,000
    assert "TCP_CRR → the last Service p50 µs" not in {
        c["figure"] for c in by_name["native"]["changes"]}  # same proxy: not told apart  # fmt: skip
    # nftables: no flannel+nftables row in that compare, but its service-scale row is there
    assert [c["figure"] for c in by_name["nftables"]["changes"]] == [
        "TCP_CRR → the last Service p50 µs", "programming all Services, s"]  # fmt: skip
    gains = [(r["best_gain"] or {}).get("gain_percent", -1e9) for r in ranked]
    assert gains == sorted(gains, reverse=True)  # best first
    for r in ranked:
        if r["best_gain"]:
            assert r["best_gain"]["significant"] and r["best_gain"]["gain_percent"] > 0


def test_the_plan_page_lists_the_what_ifs_and_the_unknowns(tmp_path: Path) -> None:
    got = _cli("assess", "-f", str(DUMP), "--plan", "--report", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    page = (tmp_path / "out" / "assess.html").read_text()
    assert "Not measured (<code>--plan</code>)" in page
    assert "kube-proxy ConfigMap config.conf: mode: nftables" in page
    assert "the API does not show a node&#39;s interfaces" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    plan_only = _cli("report", str(tmp_path / "out" / "assess.json"), "--html",
                     str(tmp_path / "p.html"))  # fmt: skip
    assert plan_only.returncode == 2 and "made with --plan holds no measurement" in plan_only.stderr


def test_the_measured_page_shows_each_change_with_its_tool(tmp_path: Path) -> None:
    """The page's measured branch, from a plan and the ranking of the real fixtures."""
    from kubenetlab.assess.rank import ranking
    from kubenetlab.report.assess_report import page

    read = snapshot.from_files([str(DUMP)])
    found = profile.profile(read)
    plan = twin.plan(found, asked=("dsr",), snapshot=read)
    results = Path(__file__).parents[1] / "fixtures" / "results"
    compare = json.loads((results / "compare.json").read_text())
    churn = json.loads((results / "churn.json").read_text())
    proxies = {"flannel": "iptables", "cilium-dsr": "ebpf"}
    doc = {**measure_doc(found, plan), "measured": True, "compare": compare, "churn": churn,
           "ranking": ranking(plan, compare, None, proxies)}  # fmt: skip
    html = page(doc)
    assert "Now vs each what-if" in html and "<td>sockperf" in html
    assert "pod → pod TCP_RR p50 µs" in html
    # the replayed Services and where their endpoints went; the proxy under churn
    assert "Your own Services replayed" in html and "worker-1 → node" in html
    assert "<code>kube-system/kube-dns</code> and <code>shop/payments</code>" in html
    assert "The service proxy under your endpoint churn" in html
    for row in churn["rows"]:
        assert row["implementation"] in html


def measure_doc(found: profile.Profile, plan: twin.TwinPlan) -> dict:
    from kubenetlab.assess.measure import Assessment, MeasureSettings

    return Assessment(found, plan, MeasureSettings()).to_dict()
