"""Pure parts of scenario mtu: counter parsing, the MTU cases, verdicts."""

from __future__ import annotations

import pytest

from kubenetlab.kernel.counters import delta, parse_snmp
from kubenetlab.scenarios.mtu import Cell, Row, cases_for, judge

SNMP = """Ip: Forwarding DefaultTTL InReceives ReasmOKs FragCreates
Ip: 1 64 10209 7 12
Icmp: InMsgs OutDestUnreachs
Icmp: 2 3
IcmpMsg: InType3
IcmpMsg: 2
"""


def test_parse_snmp_pairs_header_and_value_lines() -> None:
    got = parse_snmp(SNMP)
    assert got["Ip.FragCreates"] == 12 and got["Icmp.OutDestUnreachs"] == 3
    assert got["IcmpMsg.InType3"] == 2
    assert delta(got, {**got, "Ip.FragCreates": 20}) == {"Ip.FragCreates": 8}


def test_cases_follow_each_profiles_encapsulation_overhead() -> None:
    vxlan = {c.kind: (c.underlay_mtu, c.pod_mtu, c.path_mtu) for c in cases_for("vxlan")}
    assert vxlan == {
        "aligned": (1500, 1450, 1450),
        "misaligned": (1500, 1500, 1450),
        "blackhole": (1500, 1500, 1450),  # misaligned, with ICMP frag-needed filtered
        "jumbo": (9000, 8950, 8950),
    }
    ipip = {c.kind: c.pod_mtu for c in cases_for("ipip")}
    assert ipip == {"aligned": 1480, "misaligned": 1500, "blackhole": 1500, "jumbo": 8980}
    # No encapsulation: no MTU to get wrong, so no misaligned case.
    assert [c.kind for c in cases_for("native")] == ["aligned", "jumbo"]
    assert [c.kind for c in cases_for("bgp")] == ["aligned", "jumbo"]


def _cell(test: str, icmp: int = 0, frags: int = 0) -> Cell:
    kernel = {"icmp_frag_needed": icmp, "df_dropped": icmp, "fragments_created": frags}
    return Cell(test, None, {**kernel, "reassembled": frags // 2, "icmp_rate_limited": 0})


def test_verdicts_say_what_happened_in_plain_language() -> None:
    aligned, misaligned, *_ = cases_for("vxlan")
    rows = [
        Row(aligned, 1400, {t: _cell(t) for t in ("stream", "udp_stream", "rr")}),
        Row(aligned, 1472, {t: _cell(t, frags=10) for t in ("stream", "udp_stream", "rr")}),
        Row(
            misaligned,
            1472,
            {t: _cell(t, icmp=1, frags=10) for t in ("stream", "udp_stream", "rr")},
        ),
    ]
    judge(rows)
    assert rows[0].verdict == (
        "pod MTU 1450 over vxlan on a 1500 underlay: 1400 B datagrams fit, nothing fragments"
    )
    assert "1472 B datagrams exceed the pod MTU and fragment at the sender (10 fragments)" in (
        rows[1].verdict
    )
    assert rows[2].verdict.startswith(
        "pod MTU 1500 over vxlan on a 1500 underlay: packets above 1450 B do not fit the path; "
        "nodes sent 3 ICMP frag-needed; 1472 B datagrams fit the pod MTU but not the path"
    )


def test_scenario_mtu_takes_a_clusters_own_mtus() -> None:
    import argparse

    from kubenetlab.errors import UsageError
    from kubenetlab.scenarios import mtu

    cases = {c.kind: c for c in mtu.cases_for("vxlan", 9001, 1500)}
    assert (cases["aligned"].pod_mtu, cases["yours"].pod_mtu) == (8951, 1500)
    assert "jumbo" not in cases  # the path is jumbo already
    parser = argparse.ArgumentParser()
    mtu.arguments(parser)
    got = mtu.settings_from(parser.parse_args(["--underlay-mtu", "9001", "--pod-mtu", "1500"]))
    assert got.cases[-1] == "yours" and got.underlay_mtu == 9001
    with pytest.raises(UsageError, match="the case 'yours' is the pod MTU"):
        mtu.MtuSettings(cases=("yours",))
    with pytest.raises(UsageError, match="underlay MTU must be 576-9216"):
        mtu.MtuSettings(underlay_mtu=20000)
