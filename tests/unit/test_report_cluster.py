"""A compare measured on a live cluster (captured from `compare --kubeconfig` against a
vxlan Kubernetes lab, tests/fixtures/cluster/compare.json) in the report: beside a lab
compare it is shown side by side with the lab's model of it; alone, the claims judge it,
its pod row standing as the lab stack that models it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from kubenetlab.claims import Evidence, compare_rows
from kubenetlab.report.cluster_view import side_by_side
from kubenetlab.report.html_report import render
from kubenetlab.report.results import CLUSTER_COMPARE, load
from tests.schemas import validator

FIXTURES = Path(__file__).parents[1] / "fixtures"
CLUSTER = FIXTURES / "cluster" / "compare.json"
LAB = FIXTURES / "results" / "compare.json"  # a lab compare with a flannel row


def test_the_cluster_result_is_schema_valid_and_names_its_model() -> None:
    doc = json.loads(CLUSTER.read_text())
    validator("compare.schema.json").validate(doc)
    cluster = doc["cluster"]
    assert cluster["model"] == "flannel" and cluster["cni"] == "kubenetlab lab (vxlan)"
    assert {f["source"] for f in cluster["facts"]} == {
        "Node node1 label kubenetlab.io/routing", "Node node1 label kubenetlab.io/proxy"}  # fmt: skip
    assert all(p.startswith("taskset -c") for p in cluster["pinned"].values())
    placement = doc["rows"][1]["results"]["rr"]["placement"]
    assert placement["policy"] == "split" and placement["client_node"] != placement["server_node"]


def test_beside_a_lab_compare_the_cluster_is_shown_with_the_labs_model() -> None:
    evidence, sources = load([str(LAB), str(CLUSTER)])
    assert [s["kind"] for s in sources] == ["compare", CLUSTER_COMPARE]
    assert evidence.get("compare")["rows"][1]["profile"] == "native"  # the lab's is judged
    side = side_by_side(evidence)
    assert side is not None
    assert [(line.source, line.row) for line in side.lines] == [
        ("cluster", "underlay"), ("cluster", "cluster"), ("lab", "underlay"), ("lab", "flannel")]  # fmt: skip
    cluster_rr = json.loads(CLUSTER.read_text())["rows"][1]["overhead_percent"]["rr.p50"]
    lab_rr = evidence.get("compare")["rows"][2]["overhead_percent"]["rr.p50"]
    assert f"{cluster_rr:+.0f} % over the underlay on the cluster" in side.summary
    assert f"{lab_rr:+.0f} % in the lab's model of it (flannel)" in side.summary
    assert side.columns[0] == "RR p50 µs" and side.lines[1].cells[0].endswith(
        f"({cluster_rr:+.0f} %)"
    )
    assert any(t.startswith("TCP_RR: sockperf") for t in side.tools)  # the page names its tools
    page = render(evidence, sources)
    assert (
        "Your cluster vs the lab&#39;s model of it" in page or "Your cluster vs the lab's" in page
    )


def test_alone_the_cluster_is_judged_as_the_stack_that_models_it() -> None:
    evidence, _ = load([str(CLUSTER)])
    assert evidence.get("compare") is evidence.get(CLUSTER_COMPARE)
    rows = compare_rows(evidence)
    assert rows["flannel"] is rows["cluster"]  # what the claims look up by stack name
    side = side_by_side(evidence)
    assert side is not None and "give a lab compare too" in side.summary
    assert [line.source for line in side.lines] == ["cluster", "cluster"]


def test_a_lab_compare_without_the_model_says_which_profile_to_run() -> None:
    lab = json.loads(LAB.read_text())
    lab["rows"] = [r for r in lab["rows"] if r["profile"] != "flannel"]
    docs = {"compare": lab, CLUSTER_COMPARE: json.loads(CLUSTER.read_text())}
    side = side_by_side(Evidence(docs))
    assert side is not None and "`kubenetlab compare --profiles flannel`" in side.summary
    unmodelled = copy.deepcopy(docs)
    unmodelled[CLUSTER_COMPARE]["cluster"]["model"] = None
    side = side_by_side(Evidence(unmodelled))
    assert side is not None and "every lab row is shown" in side.summary
    assert len([line for line in side.lines if line.source == "lab"]) == len(
        [r for r in lab["rows"] if r.get("measured")])  # fmt: skip
