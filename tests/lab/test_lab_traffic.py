"""Real namespaces, real packets: both routing profiles carry TCP across nodes."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lab.conftest import IN_WORKER, run_cli
from tests.lab.helpers import lab, lab_exec, lab_exec_cli, link_stats, status, tcp_transfer

pytestmark = pytest.mark.lab


def test_vxlan_tcp_between_pods_on_different_nodes_crosses_the_vxlan_device() -> None:
    with lab("-f", "examples/two-node.yaml", "--name", "t-vxlan") as doc:
        assert doc["profile"] == "vxlan" and doc["pod_mtu"] == 1450
        before = link_stats("t-vxlan", "node1", "knl-vxlan")["bytes"]
        peer = tcp_transfer(doc, client="node1-pod1", server="node2-pod2")
        after = link_stats("t-vxlan", "node1", "knl-vxlan")["bytes"]
        assert peer == "10.244.0.2"  # pod to pod: no SNAT, the server sees the client pod
        assert after - before > 1 << 20  # the 1 MiB went through the VXLAN device


def test_native_tcp_between_pods_on_different_nodes_uses_direct_routes() -> None:
    with lab("-f", "examples/two-node.yaml", "--name", "t-native", "--profile", "native") as doc:
        assert doc["pod_mtu"] == 1500
        route = lab_exec("t-native", "node1", "ip", "route", "get", "10.244.1.3")
        assert "via 198.18.0.2 dev knl-up" in route.stdout
        links = lab_exec("t-native", "node1", "ip", "-o", "link").stdout
        assert "vxlan" not in links
        before = link_stats("t-native", "node1", "knl-up")["bytes"]
        assert tcp_transfer(doc, client="node1-pod1", server="node2-pod2") == "10.244.0.2"
        assert link_stats("t-native", "node1", "knl-up")["bytes"] - before > 1 << 20


def test_vxlan_dont_fragment_ping_fits_pod_mtu_exactly() -> None:
    with lab("-f", "examples/two-node.yaml", "--name", "t-mtu") as doc:
        fits = doc["pod_mtu"] - 28  # IPv4 20 + ICMP 8
        ok = lab_exec(
            "t-mtu", "node1-pod1", "ping", "-c1", "-W2", "-M", "do", "-s", str(fits), "10.244.1.2"
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        big = lab_exec(
            "t-mtu",
            "node1-pod1",
            "ping",
            "-c1",
            "-W2",
            "-M",
            "do",
            "-s",
            str(fits + 1),
            "10.244.1.2",
        )
        assert big.returncode != 0


def test_misaligned_pod_mtu_is_refused_by_the_vxlan_device_with_pmtu_signal() -> None:
    with lab("-f", "examples/vxlan-misaligned-mtu.yaml", "--name", "t-misalign") as doc:
        assert doc["pod_mtu"] == 1500
        # Leaves the pod (MTU 1500) but not the node: the VTEP takes 1450.
        big = lab_exec(
            "t-misalign", "node1-pod1", "ping", "-c1", "-W2", "-M", "do", "-s", "1472", "10.244.1.2"
        )
        assert big.returncode != 0
        assert "mtu = 1450" in big.stdout + big.stderr  # ICMP frag-needed from the node


def test_three_nodes_jumbo_native_full_mesh() -> None:
    with lab("-f", "examples/three-node.yaml", "--name", "t-three") as doc:
        assert [n["name"] for n in doc["nodes"]] == ["worker-a", "worker-b", "worker-c"]
        assert len([p for p in doc["pods"] if p["node"] == "worker-c"]) == 4
        pods = {p["name"]: p["ip"] for p in doc["pods"]}
        for src, dst in [
            ("worker-a-pod1", "worker-b-pod2"),
            ("worker-b-pod1", "worker-c-pod4"),
            ("worker-c-pod3", "worker-a-pod2"),
        ]:
            # 9000-byte underlay, no overlay: a 9000-byte packet crosses with DF set.
            ping = lab_exec(
                "t-three", src, "ping", "-c1", "-W2", "-M", "do", "-s", "8972", pods[dst]
            )
            assert ping.returncode == 0, f"{src} -> {dst}: {ping.stdout}{ping.stderr}"


def test_status_json_has_the_documented_fields() -> None:
    with lab("--name", "t-status", "--nodes", "2", "--pods-per-node", "1", "--profile", "native"):
        doc = status("t-status")
        assert doc["schema_version"] == 1
        assert doc["name"] == "t-status" and doc["profile"] == "native"
        assert doc["health"] == "ok"
        assert set(doc["nodes"][0]) >= {"name", "underlay_ip", "pod_cidr", "netns"}
        assert set(doc["pods"][0]) >= {"name", "node", "ip", "netns"}
        assert doc["nodes"][0]["netns"] == "knl-t-status-node1"
        listing = run_cli("lab", "status", "-o", "json")
        names = [d["name"] for d in json.loads(listing.stdout)["labs"]]
        assert "t-status" in names and (IN_WORKER or names == ["t-status"])  # alone: only it


def test_a_lab_name_already_up_is_refused_and_the_first_lab_survives() -> None:
    with lab("--name", "t-twice", "--nodes", "1", "--pods-per-node", "1"):
        again = run_cli("lab", "up", "--name", "t-twice", "--nodes", "3")
        assert again.returncode == 2
        assert again.stderr.count("\n") == 1 and "already up" in again.stderr
        assert status("t-twice")["health"] == "ok"
        assert len(status("t-twice")["nodes"]) == 1


def test_bad_member_and_unknown_lab_exit_2() -> None:
    with lab("--name", "t-bad", "--nodes", "1", "--pods-per-node", "1"):
        wrong_pod = lab_exec_cli("t-bad", "nope", "true")
        assert wrong_pod.returncode == 2 and "no pod, node or service" in wrong_pod.stderr
    assert run_cli("lab", "down", "t-bad").returncode == 2
    assert run_cli("lab", "status", "t-bad").returncode == 2


def test_exec_exit_codes_follow_the_shell_and_a_vanished_namespace_is_one_line() -> None:
    with lab("--name", "t-exec", "--nodes", "2", "--pods-per-node", "1"):
        for program, code in (("/etc/passwd", 126), ("/tmp", 126), ("", 127), ("nosuch", 127)):
            out = lab_exec_cli("t-exec", "node1-pod1", program)
            assert out.returncode == code, (program, out.stderr)
            assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr
        assert lab_exec_cli("t-exec", "node1-pod1", "sh", "-c", "exit 5").returncode == 5
        subprocess.run(["ip", "netns", "delete", "knl-t-exec-node2-pod1"], check=True)
        for argv in (
            ["lab", "exec", "t-exec", "node2-pod1", "--", "true"],
            ["bench", "t-exec", "--from", "node1-pod1", "--to", "node2-pod1", "--duration", "1"],
            ["trace", "t-exec", "--from", "node1-pod1", "--to", "node2-pod1"],
        ):
            out = run_cli(*argv)
            assert out.returncode == 1, (argv, out.stderr)
            assert out.stderr.strip().endswith("`kubenetlab lab down t-exec` removes it)"), (
                out.stderr
            )
            assert "namespace knl-t-exec-node2-pod1 is gone" in out.stderr
            assert len(out.stderr.splitlines()) == 1


def test_down_ends_the_lab_processes_it_recorded() -> None:
    import sys

    from kubenetlab.kernel import procs
    from kubenetlab.kernel.ledger import Ledger

    with lab("--name", "t-procs", "--nodes", "1", "--pods-per-node", "1") as doc:
        ledger = Ledger.load("t-procs")
        assert ledger is not None
        proc = procs.spawn(
            ledger,
            doc["pods"][0]["netns"],
            [sys.executable, "-c", "import time; time.sleep(300)"],
            role="sleeper",
        )
        recorded = status("t-procs")["processes"]
        assert recorded[0]["pid"] == proc.pid and recorded[0]["alive"]
    assert proc.wait(timeout=5) is not None  # lab down ended it
    assert proc.returncode != 0
