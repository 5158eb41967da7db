"""bench and compare on real labs: figures sane, schema-valid, agreeing with sockperf by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubenetlab.bench.sockperf import parse_summary
from kubenetlab.kernel.preflight import missing_kernel_options
from tests.lab.helpers import lab, lab_exec
from tests.schemas import validator

pytestmark = pytest.mark.lab



def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubenetlab", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _assert_ordered(lat: dict) -> None:
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]


@pytest.mark.serial  # alone: its figures are held to sockperf's and to the CPU clock
def test_bench_rr_is_schema_valid_ordered_and_agrees_with_sockperf_by_hand() -> None:
    with lab("--name", "t-bench", "--nodes", "2", "--pods-per-node", "1"):
        out = _cli(
            "bench",
            "t-bench",
            "--from",
            "node1-pod1",
            "--to",
            "node2-pod1",
            "--test",
            "rr",
            "--repeats",
            "2",
            "--duration",
            "1",
            "-o",
            "json",
        )
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        validator("bench-result.schema.json").validate(doc)
        assert doc["tool"].startswith("sockperf") and not doc["fallback"]
        assert doc["test_name"] == "TCP_RR" and len(doc["runs"]) == 2
        assert doc["placement"]["policy"] == "same"  # rr's default: both ends on one CPU
        assert doc["placement"]["client_cpus"] == doc["placement"]["server_cpus"]
        for run in doc["runs"]:
            _assert_ordered(run["latency_us"])
            # CPU of the measurement's own processes (its cgroup) and their CPU's softirq.
            assert run["cpu"]["process_s"] > 0 and run["cpu"]["net_s"] >= run["cpu"]["process_s"]
            assert run["transactions"] > 100 and run["cpu_us_per_txn"] > 0
        _assert_ordered(doc["pooled_latency_us"])
        # Both ends on one CPU: that CPU is busy for the whole round trip, so the CPU per
        # transaction and the time per transaction must agree (sockperf's log write aside).
        per_txn_us = 1e6 / doc["estimates"]["tps"]["median"]
        cpu_us = doc["estimates"]["cpu_us_per_txn"]["median"]
        assert 0.7 < cpu_us / per_txn_us < 1.5, (cpu_us, per_txn_us)
        e = doc["estimates"]["p50"]
        assert e["ci_low"] <= e["median"] <= e["ci_high"]
        # The same path by hand, against the server bench left running in node2-pod1,
        # with the client where bench put its own (the server's CPU).
        cpu = str(doc["placement"]["client_cpus"][0])
        by_hand = lab_exec(
            "t-bench",
            "node1-pod1",
            "taskset",
            "-c",
            cpu,
            "sockperf",
            "ping-pong",
            "--tcp",
            "-i",
            "10.244.1.2",
            "-p",
            "11111",
            "-t",
            "1",
            "-m",
            "14",
            "--full-rtt",
        )
        reference = parse_summary(by_hand.stdout + by_hand.stderr).percentiles_us["50.000"]
        ratio = e["median"] / reference
        assert 1 / 3 < ratio < 3, f"kubenetlab p50 {e['median']} µs vs sockperf {reference} µs"


def test_bench_stream_crr_and_udp_rr_report_their_tools() -> None:
    with lab("--name", "t-bench2", "--nodes", "2", "--pods-per-node", "1", "--profile", "native"):
        common = (
            "--from",
            "node1-pod1",
            "--to",
            "node2-pod1",
            "--repeats",
            "1",
            "--duration",
            "1",
            "-o",
            "json",
        )
        stream = json.loads(_cli("bench", "t-bench2", "--test", "stream", *common).stdout)
        assert stream["tool"].startswith("iperf3") and stream["estimates"]["gbps"]["median"] > 0.05
        assert stream["runs"][0]["cpu_s_per_gb"] > 0
        crr = json.loads(_cli("bench", "t-bench2", "--test", "crr", *common).stdout)
        assert crr["tool"] == "kubenetlab knl-rr (built-in C driver)" and not crr["fallback"]
        assert crr["runs"][0]["transactions"] > 50
        _assert_ordered(crr["runs"][0]["latency_us"])
        udp = json.loads(_cli("bench", "t-bench2", "--test", "udp_rr", *common).stdout)
        assert udp["tool"].startswith("sockperf") and udp["estimates"]["p50"]["median"] > 0
        node = json.loads(
            _cli(
                "bench", "t-bench2", "--test", "rr", "--from", "node1", "--to", "node2", *common[4:]
            ).stdout
        )
        assert node["dst_ip"] == "198.18.0.2" and node["path"].startswith("node → node")


def test_without_sockperf_the_builtin_driver_stands_in_and_says_so() -> None:
    with lab("--name", "t-bench3", "--nodes", "2", "--pods-per-node", "1"):
        env = {**os.environ, "PATH": "/nonexistent"}
        out = _cli(
            "bench",
            "t-bench3",
            "--from",
            "node1-pod1",
            "--to",
            "node2-pod1",
            "--test",
            "rr",
            "--repeats",
            "1",
            "--duration",
            "1",
            "-o",
            "json",
            env=env,
        )
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["fallback"] and doc["tool"] == "kubenetlab-pyrr (built-in Python driver)"
        assert any("apt-get install -y sockperf" in note for note in doc["notes"])
        _assert_ordered(doc["runs"][0]["latency_us"])


def test_compare_small_run_is_schema_valid_lists_unavailable_and_writes_a_report(
    tmp_path: Path,
) -> None:
    out = _cli(
        "compare",
        "--profiles",
        "native,ipip,cilium-dsr,flannel",
        "--tests",
        "rr,crr",
        "--repeats",
        "1",
        "--duration",
        "1",
        "-o",
        "json",
        "--report",
        str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    validator("compare.schema.json").validate(doc)
    rows = {row["profile"]: row for row in doc["rows"]}
    assert list(rows) == ["underlay", "native", "ipip", "cilium-dsr", "flannel"]
    assert rows["underlay"]["measured"] and rows["native"]["measured"]
    if missing_kernel_options(["CONFIG_NET_IPIP"]):  # this kernel: listed with the reason
        assert not rows["ipip"]["measured"]
        assert "lacks CONFIG_NET_IPIP" in rows["ipip"]["reason"]
    else:
        assert rows["ipip"]["measured"]
    assert rows["native"]["results"]["rr"]["estimates"]["p50"]["median"] > 0
    assert "rr.p50" in rows["native"]["overhead_percent"]
    # flannel = vxlan + kube-proxy iptables: also TCP_CRR to a ClusterIP through the proxy.
    flannel = rows["flannel"]
    assert flannel["measured"] and "crr_service" not in rows["native"]["results"]
    via = flannel["results"]["crr_service"]
    assert via["path"].startswith("pod → ClusterIP") and via["estimates"]["p50"]["median"] > 0
    assert "crr_service.p50" in flannel["overhead_percent"]
    # ... and TCP_RR from the external client to node1's NodePort, backend on node2.
    for name in ("flannel", "cilium-dsr"):
        nodeport = rows[name]["results"]["rr_nodeport"]
        assert nodeport["path"].startswith("client → NodePort 198.18.0.1:30080")
        assert nodeport["estimates"]["p50"]["median"] > 0
    assert rows["cilium-dsr"]["results"]["crr_service"]["estimates"]["p50"]["median"] > 0
    assert doc["driver_check"]["builtin_rr_p50_us"] > 0
    for name in ("compare.json", "compare.csv", "latency.png", "cpu.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "TCP_CRR via ClusterIP" in (tmp_path / "compare.csv").read_text()
    assert "TCP_RR via NodePort" in (tmp_path / "compare.csv").read_text()
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.serial  # alone: the runs' spread decides the path it takes
def test_ci_width_repeats_until_met_or_names_what_missed(tmp_path: Path) -> None:
    """bench --ci-width: past --repeats, runs go on until the p50's interval is narrow
    enough or --max-repeats is spent; the table names a figure that missed, the JSON says
    how many runs it took and the width reached."""
    with lab("--name", "t-ciw", "--nodes", "2", "--pods-per-node", "1"):
        out = _cli("bench", "t-ciw", "--from", "node1-pod1", "--to", "node2-pod1", "--test",
                   "crr", "--duration", "1", "--repeats", "5", "--max-repeats", "6",
                   "--ci-width", "0.1", "--report", str(tmp_path))  # fmt: skip
        assert out.returncode == 0, out.stderr
        doc = json.loads((tmp_path / "bench.json").read_text())
        validator("bench-result.schema.json").validate(doc)
        p = doc["precision"]
        [row] = p["rows"]
        assert p["runs"] == len(doc["runs"]) and row["metric"] == "p50"
        if row["met"]:  # every run's p50 in one HDR bucket: met as soon as 5 runs allow
            assert p["runs"] == 5 and row["achieved_percent"] <= 0.1
            assert "every figure's CI within ±0.1% of its median after 5 runs" in out.stdout
        else:
            assert p["runs"] == 6 and row["achieved_percent"] > 0.1 and p["missed"]
            assert "precision: 1 of 1 figures missed ±0.1% after 6 runs" in out.stdout
