"""scenario mtu on real labs: fragmentation and PMTU signalling appear only where they should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.conftest import run_cli

pytestmark = pytest.mark.lab


def test_mtu_sweep_counts_pmtu_events_only_when_the_pod_mtu_is_misaligned(tmp_path: Path) -> None:
    out = run_cli(
        "scenario",
        "mtu",
        "--profiles",
        "vxlan",
        "--cases",
        "aligned,misaligned",
        "--sizes",
        "1400,1472",
        "--repeats",
        "1",
        "--duration",
        "1",
        "-o",
        "json",
        "--report",
        str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rows = {(r["case"], r["size"]): r for r in doc["rows"]}
    assert set(rows) == {(c, s) for c in ("aligned", "misaligned") for s in (1400, 1472)}

    def kernel(case: str, size: int, key: str) -> int:
        return sum(t["kernel"][key] for t in rows[(case, size)]["tests"].values())

    # Aligned (pod MTU 1450 = 1500 − VXLAN's 50): no node ever has to refuse a packet.
    for size in (1400, 1472):
        assert kernel("aligned", size, "icmp_frag_needed") == 0
        assert kernel("aligned", size, "df_dropped") == 0
    # Misaligned (pod MTU 1500): full-size packets reach the VXLAN device and are refused
    # with ICMP frag-needed, whatever the message size (TCP fills segments to the MSS).
    for size in (1400, 1472):
        assert kernel("misaligned", size, "icmp_frag_needed") > 0
        assert kernel("misaligned", size, "df_dropped") > 0
    # 1400 B datagrams fit everywhere: nothing fragments in either case.
    assert kernel("aligned", 1400, "fragments_created") == 0
    assert kernel("misaligned", 1400, "fragments_created") == 0
    # 1472 B datagrams exceed the path (1450) in both cases, so the sender fragments them.
    udp = rows[("aligned", 1472)]["tests"]["UDP_STREAM"]
    assert udp["kernel"]["fragments_created"] > 0 and udp["kernel"]["reassembled"] > 0
    for row in doc["rows"]:
        for test in row["tests"].values():
            assert test["error"] is None, test
            assert test["tool"].split()[0] in ("iperf3", "sockperf")
        assert row["verdict"].startswith(f"pod MTU {row['pod_mtu']} over vxlan")
    assert "TCP_STREAM" in rows[("misaligned", 1472)]["versus_aligned_percent"]
    for name in ("mtu.json", "mtu.csv", "mtu.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_filtered_icmp_turns_the_misaligned_mtu_into_a_black_hole() -> None:
    out = run_cli(
        "scenario",
        "mtu",
        "--profiles",
        "vxlan",
        "--cases",
        "blackhole",
        "--sizes",
        "1400",
        "--repeats",
        "1",
        "--duration",
        "1",
        "-o",
        "json",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)["rows"]
    tests = row["tests"]
    # TCP fills segments to the pod's MSS (1460): every full segment is dropped by the
    # node, and no ICMP reaches the pod to lower it. Nothing gets through.
    tcp = tests["TCP_STREAM"]
    assert tcp["error"] or tcp["estimates"]["gbps"]["median"] < 0.01, tcp
    assert tests["TCP_RR"]["error"] and "no transaction" in tests["TCP_RR"]["error"]
    assert sum(t["kernel"]["df_dropped"] for t in tests.values()) > 0
    assert "PMTU black hole" in row["verdict"]


def test_mtu_sweep_rejects_bad_input_with_one_line() -> None:
    for args, message in (
        (("--profiles", "vxlan,warp"), "unknown routing profile 'warp'"),
        (("--sizes", "64,70000"), "sizes must be message sizes from 1 to 65000"),
        (("--cases", "tiny"), "cases must be aligned, misaligned, jumbo, blackhole"),
    ):
        out = run_cli("scenario", "mtu", *args)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
