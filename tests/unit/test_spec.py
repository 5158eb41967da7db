"""Spec validation: every bad spec is a one-line UsageError; good specs build the model."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from kubenetlab.errors import UsageError
from kubenetlab.spec import build_lab, load_spec_file


def test_defaults_build_a_two_node_vxlan_lab() -> None:
    lab = build_lab({})
    assert lab.name == "default" and lab.profile == "vxlan"
    assert lab.pod_mtu == 1450 and lab.underlay_mtu == 1500
    assert [n.underlay_ip for n in lab.nodes] == [
        IPv4Address("198.18.0.1"),
        IPv4Address("198.18.0.2"),
    ]
    assert [n.pod_cidr for n in lab.nodes] == [
        IPv4Network("10.244.0.0/24"),
        IPv4Network("10.244.1.0/24"),
    ]
    assert [p.ip for p in lab.pods_on("node2")] == [
        IPv4Address("10.244.1.2"),
        IPv4Address("10.244.1.3"),
    ]
    assert {p.name: p.netns for p in lab.pods}["node2-pod2"] == "knl-default-node2-pod2"
    assert lab.profile_options == {"port": 8472, "vni": 1}


def test_native_pod_mtu_is_the_underlay_mtu_and_overrides_win() -> None:
    lab = build_lab({"profile": "native", "underlay_mtu": 9000})
    assert lab.pod_mtu == 9000
    lab = build_lab({"profile": "vxlan", "pod_mtu": 1500}, {"underlay_mtu": 9000})
    assert (lab.underlay_mtu, lab.pod_mtu) == (9000, 1500)


def test_node_list_with_per_node_pod_counts() -> None:
    lab = build_lab({"nodes": ["a", {"name": "b", "pods": 3}], "pods_per_node": 1})
    assert [(n.name, len(lab.pods_on(n.name))) for n in lab.nodes] == [("a", 1), ("b", 3)]


def test_cli_profile_flag_drops_options_written_for_the_file_profile() -> None:
    lab = build_lab({"profile": "vxlan", "profile_options": {"port": 4789}}, {"profile": "native"})
    assert lab.profile == "native" and lab.profile_options == {}


def test_fifty_pods_fit_a_slash_24_and_253_do_not() -> None:
    assert len(build_lab({"pods_per_node": 253, "nodes": 1}).pods) == 253
    with pytest.raises(UsageError, match="254 pods do not fit a /24"):
        build_lab({"pods_per_node": 254, "nodes": 1})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nodez": 2}, "unknown key 'nodez'"),
        ({"pod_cidr": "10.244.0.0/33"}, "pod_cidr '10.244.0.0/33' is not an IPv4 CIDR"),
        ({"pod_cidr": "10.244.0.1/16"}, "is not an IPv4 CIDR"),
        ({"service_cidr": "10.244.128.0/20"}, "pod_cidr 10.244.0.0/16 overlaps service_cidr"),
        ({"underlay_cidr": "10.0.0.0/24"}, "must lie inside 198.18.0.0/15"),
        ({"nodes": 0}, "at least one node"),
        ({"nodes": []}, "at least one node"),
        ({"nodes": ["a", "a"]}, "duplicate node name 'a'"),
        ({"nodes": ["Bad_Name"]}, "node name 'Bad_Name'"),
        ({"nodes": [{"name": "a", "cpu": 2}]}, "unknown key 'cpu' in node"),
        (
            {"pods_per_node": 62, "node_cidr_mask": 26},
            "62 pods do not fit a /26 pod CIDR (room for 61)",
        ),
        ({"pods_per_node": -1}, "must not be negative"),
        ({"nodes": 300}, "do not fit underlay_cidr"),
        ({"nodes": 5, "pod_cidr": "10.244.0.0/22"}, "5 nodes need 5 /24 blocks"),
        ({"underlay_mtu": 100}, "underlay_mtu 100 out of range"),
        ({"underlay_mtu": "1500"}, "underlay_mtu must be an integer"),
        ({"profile": "ipvlan"}, "unknown routing profile 'ipvlan'"),
        ({"profile_options": {"port": 70000}}, "port must be 1-65535"),
        ({"profile_options": {"mode": "x"}}, "unknown option 'mode'"),
        ({"name": "Has Space"}, "lab name 'Has Space'"),
        ({"node_cidr_mask": 12}, "node_cidr_mask 12 must be between"),
        ({"nodes": ["fabric"]}, "share the namespace"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(raw: dict, message: str) -> None:
    with pytest.raises(UsageError) as info:
        build_lab(raw)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_spec_files(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [1, 2\n")
    with pytest.raises(UsageError, match=r"bad.yaml:2: invalid YAML"):
        load_spec_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="a mapping of keys"):
        load_spec_file(listed)
    with pytest.raises(UsageError, match="cannot read"):
        load_spec_file(tmp_path / "missing.yaml")


def test_lab_names_that_nest_are_refused_while_the_other_is_up(tmp_path, monkeypatch) -> None:
    from kubenetlab import lab as labmod
    from kubenetlab.kernel import ledger

    monkeypatch.setattr(ledger, "LEDGER_DIR", tmp_path)
    monkeypatch.setattr(labmod, "known_labs", ledger.known_labs)
    (tmp_path / "nu-a.json").write_text("{}")
    for name in ("nu-a-node1", "nu"):
        with pytest.raises(UsageError, match="overlaps running lab 'nu-a'"):
            labmod.check_name_overlap(name)
    labmod.check_name_overlap("nu-b")  # a sibling name is fine
    labmod.check_name_overlap("nu-a")  # itself: the "already up" check says so


def test_status_of_a_ledger_that_describes_no_lab_is_a_failure(tmp_path, monkeypatch) -> None:
    import json

    from kubenetlab import lab as labmod
    from kubenetlab.errors import KnlError
    from kubenetlab.kernel import ledger

    monkeypatch.setattr(ledger, "LEDGER_DIR", tmp_path)
    (tmp_path / "torn.json").write_text(json.dumps({"name": "torn", "state": "up", "lab": {}}))
    with pytest.raises(KnlError, match="does not describe a lab") as caught:
        labmod.status("torn")
    assert caught.value.exit_code == 1
