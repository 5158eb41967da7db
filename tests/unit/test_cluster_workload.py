"""What cluster mode creates, as --dry-run prints it: one labelled namespace, pods pinned
to the two nodes, the host-network pair, a ClusterIP and a NodePort Service — and the
settings it refuses before touching a cluster."""

from __future__ import annotations

import pytest

from kubenetlab.cluster import workload
from kubenetlab.cluster.settings import ClusterSettings
from kubenetlab.errors import UsageError
from kubenetlab.scenarios.compare import CompareSettings


def test_every_object_is_in_the_runs_namespace_and_labelled() -> None:
    plan = workload.Plan.new("knl", "img:1", "worker-a", "worker-b")
    objects = workload.manifests(plan)
    assert [o["kind"] for o in objects] == ["Namespace", "Pod", "Pod", "Pod", "Pod",
                                            "Service", "Service"]  # fmt: skip
    assert objects[0]["metadata"]["name"] == plan.namespace and plan.namespace.startswith("knl-")
    for obj in objects:
        assert obj["metadata"]["labels"][workload.MANAGED_BY] == "kubenetlab"
        assert obj["metadata"]["labels"][workload.RUN_LABEL] == plan.run_id
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == plan.namespace
    pods = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Pod"}
    assert pods["server"]["nodeSelector"] == {"kubernetes.io/hostname": "worker-b"}
    assert pods["client"]["nodeSelector"] == {"kubernetes.io/hostname": "worker-a"}
    assert pods["host-server"]["hostNetwork"] and not pods["server"]["hostNetwork"]
    server = pods["server"]["containers"][0]
    assert server["image"] == "img:1" and "readinessProbe" in server
    assert all(tool in server["command"][-1] for tool in ("sockperf", "knl-rr", "iperf3"))
    services = [o for o in objects if o["kind"] == "Service"]
    assert {s["spec"]["type"] for s in services} == {"ClusterIP", "NodePort"}
    assert all(s["spec"]["selector"] == {"kubenetlab.io/pod": "server"} for s in services)
    assert workload.Plan.new("knl", "i", "a", "b").namespace != plan.namespace  # per run


def test_settings_a_cluster_run_refuses() -> None:
    cluster = ClusterSettings("kubeconfig")
    with pytest.raises(UsageError, match="--kubeconfig runs rr, crr, stream; not udp_rr"):
        CompareSettings(profiles=(), tests=("rr", "udp_rr"), cluster=cluster)
    with pytest.raises(UsageError, match="--profiles is for labs"):
        CompareSettings(profiles=("native",), cluster=cluster)
    with pytest.raises(UsageError, match="--underlay-mtu is for labs"):
        CompareSettings(profiles=(), cluster=cluster, underlay_mtu=9001)
    with pytest.raises(UsageError, match="underlay MTU must be 576-9216, not 100"):
        CompareSettings(underlay_mtu=100)
    with pytest.raises(UsageError, match="two different node names"):
        ClusterSettings("k", nodes=("a",))
    with pytest.raises(UsageError, match="namespace-prefix"):
        ClusterSettings("k", namespace_prefix="Bad_Prefix")
    assert CompareSettings(profiles=(), cluster=cluster).tests == ("rr", "crr", "stream")


def test_a_pods_cpuset_is_read_as_the_cpus_it_lists() -> None:
    from kubenetlab.cluster.compare import _cpu_list

    assert _cpu_list("0-3,6\n") == [0, 1, 2, 3, 6]
    assert _cpu_list("5") == [5]
    assert _cpu_list("unknown (no cgroup v2 cpuset)") is None and _cpu_list("") is None


def test_a_cluster_with_rows_not_measured_prints_why(tmp_path) -> None:
    from kubenetlab.report import views
    from kubenetlab.scenarios.compare import BASELINE, CompareReport, Row

    why = "every row crosses two nodes and c has 1 schedulable (node1)"
    report = CompareReport(
        CompareSettings(profiles=(), cluster=ClusterSettings("k")),
        [Row(BASELINE, "node → node", reason=why), Row("cluster", "pod → pod", reason=why)],
        None, 0.1,
    )  # fmt: skip
    views.view(report).table(report, False)  # no figure to print: the reasons, no error
    assert views.view(report).csv(report).count(why) == 2
    assert [r["measured"] for r in report.to_dict()["rows"]] == [False, False]


def test_the_server_command_pins_to_the_lowest_allowed_cpu() -> None:
    """The pod command's prefix, run by a real shell here: the CPU it picks is the lowest
    this process may use (the choice the run makes for the clients too)."""
    import os
    import subprocess

    plan = workload.Plan.new("knl", "img", "a", "b")
    command = workload.server_command(plan, "server")
    prefix = command[: command.index("$PIN sockperf")]
    got = subprocess.run(["sh", "-c", prefix + 'echo "$PIN"'], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert got.stdout.strip() == f"taskset -c {min(os.sched_getaffinity(0))}"
    unpinned = workload.server_command(workload.Plan.new("knl", "i", "a", "b", pin=False), "s")
    assert "taskset" not in unpinned and "$PIN" not in unpinned


def test_one_exec_tells_a_pods_cpus_and_its_pinning() -> None:
    import os
    import subprocess

    out = subprocess.run(["sh", "-c", workload.PIN_PROBE], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    said = dict(line.split(" ", 1) for line in out.splitlines())
    from kubenetlab.cluster.compare import _cpu_list

    assert _cpu_list(said["cpus"]) == sorted(os.sched_getaffinity(0))
    assert said["pin"] == f"taskset -c {min(os.sched_getaffinity(0))}"
