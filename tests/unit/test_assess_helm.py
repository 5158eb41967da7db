"""Cilium's Helm values for assess: files and the install command merged as Helm merges
them, read as the cilium-config facts they become, and what they decide in the detected
data path — the running ConfigMap winning where both say a key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubenetlab.assess import helm, profile, snapshot, twin
from kubenetlab.cluster.detect import detect
from kubenetlab.errors import UsageError
from kubenetlab.kube.dataplane_config import value

DUMP = Path(__file__).parents[2] / "examples" / "assess" / "small-cluster.yaml"


def _values(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_files_then_sets_in_helms_order(tmp_path: Path) -> None:
    base = _values(tmp_path, "base.yaml", {"routingMode": "tunnel", "tunnelProtocol": "vxlan",
                                           "loadBalancer": {"mode": "snat"}, "MTU": 1450})  # fmt: skip
    over = _values(tmp_path, "over.yaml", {"routingMode": "native"})
    command = (f"helm upgrade --install cilium cilium/cilium -n kube-system -f {over} "
               "--set kubeProxyReplacement=true --set loadBalancer.mode=dsr,MTU=9000 "
               "--set-string ipv4NativeRoutingCIDR=10.244.0.0/16")  # fmt: skip
    facts = helm.facts([base], command)
    got = {f.name: f.value for f in facts}
    assert got == {"cilium routing-mode": "native", "cilium tunnel-protocol": "vxlan",
                   "cilium kube-proxy-replacement": "true", "cilium bpf-lb-mode": "dsr",
                   "cilium ipv4-native-routing-cidr": "10.244.0.0/16", "cilium mtu": "9000"}  # fmt: skip
    assert all(f.source.startswith(f"Helm values ({base}, --helm-command): ") for f in facts)
    assert helm.facts([], None) == []


def test_values_alone_model_cilium_when_no_daemonset_was_read(tmp_path: Path) -> None:
    facts = helm.facts([], "helm install cilium cilium/cilium --set routingMode=native "
                           "--set kubeProxyReplacement=true --set loadBalancer.mode=dsr")  # fmt: skip
    path = detect(None, [], "daemonsets not allowed", None, facts)
    assert path.cni == "cilium" and path.model == "cilium-dsr", path
    assert path.kube_proxy.startswith(
        "replaced (Helm values (--helm-command): kubeProxyReplacement"
    )
    # the README's command (Cilium 1.14's `tunnel: disabled`, before routingMode)
    legacy = helm.facts([], "helm install cilium cilium/cilium --version 1.14.5 --set "
                            "tunnel=disabled --set kubeProxyReplacement=true")  # fmt: skip
    assert detect(None, [], "", None, legacy).model == "cilium"
    tunnel = detect(None, [], "", None, helm.facts([], "helm install c cilium/cilium"))
    assert tunnel.cni.startswith("unknown")  # no value said anything about the data path


def test_the_running_config_map_wins_and_the_difference_is_kept() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "cilium-config", "namespace": "kube-system"},
              "data": {"routing-mode": "tunnel", "kube-proxy-replacement": "true"}}  # fmt: skip
    daemonsets = [{"kind": "DaemonSet", "metadata": {"name": "cilium", "namespace": "kube-system"}}]
    facts = helm.facts([], "helm upgrade cilium cilium/cilium --set routingMode=native "
                           "--set MTU=1400")  # fmt: skip
    path = detect(daemonsets, [config], "", None, facts)
    assert value(list(path.facts), "cilium routing-mode") == "tunnel"
    assert value(list(path.facts), "cilium routing-mode (Helm values, not running)") == "native"
    assert value(list(path.facts), "cilium mtu") == "1400"  # filled in: the ConfigMap is silent
    assert path.model is None and "tunnel" in path.model_reason


def test_bad_values_and_commands_are_one_line_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("routingMode: [native\n")
    with pytest.raises(UsageError, match=r"broken.yaml:\d+: invalid YAML"):
        helm.facts([str(broken)], None)
    listed = _values(tmp_path, "list.yaml", ["a"])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="must be a mapping"):
        helm.facts([listed], None)
    for command, message in (("kubectl apply -f x", "must be `helm install"),
                             ("helm install c cilium/cilium --set routingMode", "key=value"),
                             ("helm install c cilium/cilium --set", "needs a value"),
                             ("helm install 'c", "cannot split the command line")):  # fmt: skip
        with pytest.raises(UsageError, match=message):
            helm.facts([], command)


def test_assess_plan_reads_values_from_the_command_line(tmp_path: Path) -> None:
    values = _values(tmp_path, "cilium.yaml", {"MTU": 1400})
    got = subprocess.run([sys.executable, "-m", "kubenetlab", "assess", "-f", str(DUMP),
                          "--values", values, "--plan", "-o", "json"],
                         capture_output=True, text=True)  # fmt: skip
    assert got.returncode == 0, got.stderr
    import json

    facts = {f["name"] for f in json.loads(got.stdout)["detected"]["facts"]}
    assert "CNI" in facts and "cilium mtu" not in facts  # flannel: Cilium's values are not its
    bad = subprocess.run([sys.executable, "-m", "kubenetlab", "assess", "-f", str(DUMP),
                          "--helm-command", "helm install c x --set", "--plan"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr


def test_a_cilium_dump_with_values_models_the_dsr_stack(tmp_path: Path) -> None:
    read = snapshot.from_files([str(DUMP)])
    read.daemonsets = [{"kind": "DaemonSet",
                        "metadata": {"name": "cilium", "namespace": "kube-system"}}]  # fmt: skip
    facts = helm.facts([_values(tmp_path, "v.yaml", {
        "routingMode": "native", "kubeProxyReplacement": True,
        "loadBalancer": {"mode": "dsr"}, "MTU": 1500})], None)  # fmt: skip
    found = profile.profile(read, helm_values=facts)
    assert found.data_path.model == "cilium-dsr"
    assert found.fact("pod MTU") == "1500"
    assert "dsr" in twin.plan(found).not_applicable


def test_the_mtu_what_if_needs_the_node_mtu_and_a_pod_mtu_off_the_path() -> None:
    from kubenetlab.assess.measure import MeasureSettings, _mtu_settings

    found = profile.profile(snapshot.from_files([str(DUMP)]))  # flannel VXLAN
    assert "--node-mtu" in twin.plan(found, asked=("mtu",)).not_applicable["mtu"]
    derived = twin.plan(found, asked=("mtu",), mtus=twin.Mtus(9001))
    assert "flannel derives the pod MTU" in derived.not_applicable["mtu"]
    assert "8951" in derived.not_applicable["mtu"] and derived.node_mtu == 9001
    aligned = twin.plan(found, asked=("mtu",), mtus=twin.Mtus(1500, 1450))
    assert aligned.not_applicable["mtu"].startswith("aligned already")
    plan = twin.plan(found, asked=("mtu",), mtus=twin.Mtus(1500, 1500))
    [what_if] = plan.what_ifs
    assert what_if.mtu == {"node": 1500, "pod_now": 1500, "pod_aligned": 1450}
    assert what_if.stack == "flannel" and "misaligned" in what_if.caveat
    sweep = _mtu_settings(plan, MeasureSettings(repeats=2))
    assert (sweep.profiles, sweep.cases, sweep.underlay_mtu, sweep.pod_mtu) == (
        ("vxlan",), ("aligned", "yours"), 1500, 1500)  # fmt: skip
    small = twin.plan(found, asked=("mtu",), mtus=twin.Mtus(9001, 1450)).what_ifs[0]
    assert "7501 B less" in small.caveat
    with pytest.raises(UsageError, match="--node-mtu 100000"):
        twin.Mtus(100000)
    profile.add_said_mtus(found, 1500, 1500)  # what the user says replaces the unknowns
    assert found.fact("node MTU") == "1500" and found.fact("pod MTU") == "1500"
    assert not {u.name for u in found.unknown} & {"node MTU", "pod MTU"}


def test_calico_configs_veth_mtu_is_the_pod_mtu(tmp_path: Path) -> None:
    items = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
              "metadata": {"name": "calico-node", "namespace": "kube-system"},
              "spec": {"template": {"spec": {"containers": [{"name": "calico-node"}]}}}},
             {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "calico-config", "namespace": "kube-system"},
              "data": {"veth_mtu": "1440"}}]  # fmt: skip
    dump = tmp_path / "calico.yaml"
    dump.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    found = profile.profile(snapshot.from_files([str(dump)]))
    assert found.fact("pod MTU") == "1440"
    assert any(f.source == "ConfigMap kube-system/calico-config: veth_mtu" for f in found.facts)


def test_the_mtu_change_is_ranked_from_the_sweeps_own_cases() -> None:
    from kubenetlab.assess.rank import mtu_changes

    def row(case: str, gbps: float, p50: float) -> dict:
        est = {"median": gbps, "ci_low": gbps * 0.98, "ci_high": gbps * 1.02, "n": 3}
        rr = {"median": p50, "ci_low": p50 * 0.98, "ci_high": p50 * 1.02, "n": 3}
        return {"profile": "vxlan", "case": case, "size": 8192, "tests": {
            "TCP_STREAM": {"tool": "iperf3 3.12", "estimates": {"gbps": est}},
            "TCP_RR": {"tool": "sockperf 3.10", "estimates": {"p50": rr}}}}  # fmt: skip

    got = {
        c.figure: c
        for c in mtu_changes({"rows": [row("yours", 2.0, 100), row("aligned", 3.0, 100)]})
    }
    stream = got["pod → pod TCP_STREAM Gbit/s at the pod MTU, 8192 B messages"]
    assert stream.gain_percent == 50.0 and stream.significant and stream.tool == "iperf3 3.12"
    assert not got["pod → pod TCP_RR p50 µs at the pod MTU, 8192 B messages"].significant
