"""Broken input of every kind, as a new user or a CI job feeds it: each case ends in one
clear line on stderr and exit 2 (or, for audit, findings and exit 1), never a traceback,
within 5 s and 300 MB, measured in the child process. No root needed: lab specs go
through `lab up --dry-run`, which validates everything and creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LOL = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"
SAVE = (
    "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-X - [0:0]\n"
    "-A PREROUTING -j KUBE-SERVICES\n"
    "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X\nCOMMIT\n"
)
BAD_UTF8 = b"name: caf\xe9\nnodes: 2\n"
SVC = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n"
SLICE = (
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n"
    "  namespace: default\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\n"
    "ports: [{name: http, port: 8080}]\n"
)
ROUTE = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n"
ARTICLE = (
    "helm install cilium cilium/cilium --version 1.16.2 --namespace kube-system "
    "--set tunnel=disabled --set autoDirectNodeRoutes=true --set kubeProxyReplacement=strict "
    "--set loadBalancer.mode=dsr"
)
SVC_OK = SVC + "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80, targetPort: 8080}]\n"
SVC_PORT = "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: %s, targetPort: 8080%s}]\n"

# (id, file contents or None, argv with FILE for the file, exit codes allowed, stderr says)
CASES: list[tuple[str, str | bytes | None, list[str], tuple[int, ...], str]] = [
    # lab specs
    ("spec-100-digit-nodes", "nodes: " + "9" * 100 + "\n", [], (2,), "more than one host holds"),
    ("spec-1e8-nodes", "nodes: 100000000\n", [], (2,), "more than one host holds"),
    ("spec-too-many-pods", "nodes: 200\npods_per_node: 100\n", [], (2,), "10,000 pods"),
    ("spec-not-utf8", BAD_UTF8, [], (2,), "not UTF-8 text"),
    ("spec-deep", DEEP, [], (2,), "maximum nesting depth"),
    # deeper than kubenetlab's 64 levels, within libyaml's own 1000
    ("spec-deep-100", "a: " + "[" * 100 + "]" * 100 + "\n", [], (2,), "nesting depth (64 levels)"),
    ("spec-billion-laughs", LOL, [], (2,), "alias"),
    ("spec-empty", "", [], (2,), "the lab spec is empty"),
    ("spec-pod-mtu-9000", "underlay_mtu: 1500\npod_mtu: 9000\n", [], (2,), "use 1450"),
    ("spec-vxlan-1500", "profile: vxlan\npod_mtu: 1500\n", [], (2,), "allow_mtu_mismatch"),
    ("spec-loopback-pods", "pod_cidr: 127.0.0.0/16\n", [], (2,), "is loopback"),
    ("spec-multicast-pods", "pod_cidr: 224.0.0.0/8\n", [], (2,), "is multicast"),
    ("spec-link-local-pods", "pod_cidr: 169.254.0.0/16\n", [], (2,), "is link-local"),
    ("spec-bad-cidr", "pod_cidr: notacidr\n", [], (2,), "not an IPv4 CIDR"),
    ("spec-cidr-number", "pod_cidr: 5\n", [], (2,), "must be an IPv4 CIDR"),
    ("spec-unknown-key", "nodes: 2\ncolour: blue\n", [], (2,), "unknown key 'colour'"),
    ("spec-negative-nodes", "nodes: -1\n", [], (2,), "at least one node"),
    ("spec-nodes-text", "nodes: two\n", [], (2,), "nodes must be a count"),
    ("spec-duplicate-node", "nodes: [a, b, a]\n", [], (2,), "duplicate node name"),
    ("spec-duplicate-key", "nodes: 2\nnodes: 3\n", [], (2,), "duplicate key 'nodes'"),
    ("spec-pods-overflow", "pods_per_node: 300\n", [], (2,), "do not fit a /24"),
    ("spec-real-underlay", "underlay_cidr: 10.0.0.0/24\n", [], (2,), "benchmarking"),
    ("spec-tiny-mtu", "underlay_mtu: 100\n", [], (2,), "out of range"),
    ("spec-overlap", "service_cidr: 10.240.0.0/12\n", [], (2,), "overlaps"),
    ("spec-profile", "profile: geneve\n", [], (2,), "unknown routing profile"),
    ("spec-profile-options", "profile_options: 5\n", [], (2,), "profile_options must be"),
    ("spec-services-number", "services: 5\n", [], (2,), "services"),
    ("spec-service-port", "services: [{name: web, port: 99999}]\n", [], (2,), "port"),
    ("spec-routes-number", "routes: 5\n", [], (2,), "routes must be"),
    ("spec-allow-text", "allow_mtu_mismatch: yes please\n", [], (2,), "true or false"),
    ("spec-top-list", "- a\n- b\n", [], (2,), "a mapping of keys"),
    ("spec-mask", "node_cidr_mask: 40\n", [], (2,), "node_cidr_mask"),
    ("spec-name", "name: UPPER\n", [], (2,), "lab name"),
    ("spec-proxy", "proxy: ebpfx\n", [], (2,), "unknown service proxy"),
    ("spec-two-docs", "nodes: 2\n---\nnodes: 3\n", [], (2,), "2 YAML documents"),
    ("spec-invalid-yaml", "nodes: [1, 2\n", [], (2,), "invalid YAML"),
    ("spec-dev-zero", None, ["lab", "up", "-f", "/dev/zero", "--dry-run"], (2,), "larger than"),
    ("flag-1e8-nodes", None, ["lab", "up", "--nodes", "100000000", "--dry-run"], (2,), "host"),
    # Gateway API routes
    ("routes-rules-number", ROUTE + "  rules: 5\n", ["routes"], (2,), "rules"),
    (
        "routes-weight-text",
        ROUTE + "  rules: [{backendRefs: [{name: a, port: 80, weight: ninety}]}]\n",
        ["routes"],
        (2,),
        "must be an integer from 0 to 1,000,000, not 'ninety'",
    ),
    ("routes-not-utf8", BAD_UTF8, ["routes"], (2,), "not UTF-8 text"),
    ("routes-deep", DEEP, ["routes"], (2,), "maximum nesting depth"),
    ("routes-laughs", LOL, ["routes"], (2,), "alias"),
    ("routes-dev-zero", None, ["lab", "up", "--routes", "/dev/zero", "--dry-run"], (2,), "larger"),
    # audit
    ("audit-service-spec-list", SVC + "  [1, 2]\n", ["audit"], (2,), "spec: [1, 2] is not of type"),
    ("audit-route-rules", ROUTE + "  rules: 5\n", ["audit"], (2,), "spec.rules: 5"),
    (
        "audit-route-weight-text",
        ROUTE + "  rules: [{backendRefs: [{name: a, weight: ninety}]}]\n",
        ["audit"],
        (2,),
        "weight: 'ninety' is not of type 'integer'",
    ),
    (
        "audit-route-weight-range",
        ROUTE + "  rules: [{backendRefs: [{name: a, weight: 2000000}]}]\n",
        ["audit"],
        (1,),
        "",
    ),
    # Wrong-typed Cilium values are findings now (KNL-CIL-011, test_audit.py); what Helm
    # itself refuses on the command line stays an input error.
    (
        "audit-helm-index-cap",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium --set c[99999999999]=y"],
        (2,),
        "greater than maximum supported index",
    ),
    (
        "audit-helm-negative-index",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium --set c[-2]=y"],
        (2,),
        "negative -2 index not allowed",
    ),
    (
        "audit-helm-set-json",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium --set-json a={x"],
        (2,),
        "--set-json a: not a JSON value",
    ),
    (
        "audit-helm-set-file",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium --set-file a=/nonexistent"],
        (2,),
        "--set-file /nonexistent: cannot read",
    ),
    (
        "audit-helm-version",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium --version latest"],
        (2,),
        "--version 'latest' is neither a version",
    ),
    (
        "audit-cilium-version",
        None,
        ["audit", "--helm-command", ARTICLE, "--cilium-version", "x.y"],
        (2,),
        "not a version",
    ),
    ("audit-nft-json-number", '{"nftables": 5}', ["audit", ".json"], (2,), "must be a list"),
    (
        "audit-nft-json-expr",
        '{"nftables": [{"table": {"family": "ip", "name": "kube-proxy"}}, '
        '{"rule": {"table": "kube-proxy", "chain": "services", "expr": 5}}]}',
        ["audit", ".json"],
        (2,),
        "nftables[1].rule.expr: 5 is not of type 'array'",
    ),
    (
        "audit-nft-json-elem",
        '{"nftables": [{"map": {"table": "kube-proxy", "name": "service-ips", "elem": 7}}]}',
        ["audit", ".json"],
        (2,),
        "nftables[0].map.elem",
    ),
    ("audit-json-deep", '{"a":' * 5000, ["audit", ".json"], (2,), "JSON"),
    ("audit-json-broken", '{"nftables": [', ["audit", ".json"], (2,), "invalid JSON"),
    (
        "audit-laughs",
        SVC + "".join(f"  {line}\n" for line in LOL.splitlines()),
        ["audit"],
        (2,),
        "alias",
    ),
    ("audit-deep", DEEP, ["audit"], (2,), "maximum nesting depth"),
    # /proc and /sys pass as writable directories and refuse every new file (item 11)
    (
        "etcd-disk-proc",
        None,
        ["etcd", "disk", "--dir", "/proc"],
        (2,),
        "--dir /proc: cannot create a test file there",
    ),
    (
        "host-check-etcd-sys",
        None,
        ["host", "check", "--window", "0.1", "--etcd-dir", "/sys/kernel"],
        (2,),
        "--etcd-dir /sys/kernel: cannot create a test file there",
    ),
    # what iptables-restore --test refuses (issue 23 item 3), named by line
    (
        "audit-ipt-no-argument",
        SAVE.replace("--dport 80 ", "--dport "),
        ["audit", ".txt"],
        (2,),
        "line 6: option --dport needs an argument",
    ),
    (
        "audit-ipt-table-twice",
        SAVE + SAVE,
        ["audit", ".txt"],
        (2,),
        "line 8: table nat appears twice",
    ),
    (
        "audit-ipt-truncated",
        SAVE.replace("COMMIT\n", ""),
        ["audit", ".txt"],
        (2,),
        "line 1: table nat has no COMMIT",
    ),
    (
        "audit-ipt-undeclared",
        SAVE.replace("-j KUBE-SVC-X", "-j KUBE-SVC-X\n-A KUBE-NOPE -j DROP"),
        ["audit", ".txt"],
        (2,),
        "line 7: chain KUBE-NOPE is not declared",
    ),
    (
        "audit-ipt-and-nft",
        SAVE + "table ip kube-proxy {\n}\n",
        ["audit", ".txt"],
        (2,),
        "both an iptables-save dump and an nft ruleset",
    ),
    ("audit-not-utf8", BAD_UTF8, ["audit"], (2,), "not UTF-8 text"),
    ("audit-list-items", "apiVersion: v1\nkind: List\nitems: 5\n", ["audit"], (2,), "items"),
    ("audit-min-severity", SVC_OK, ["audit", "--min-severity", "loud"], (2,), "invalid choice"),
    (
        "audit-slice-address",
        SLICE + "endpoints: [{addresses: [not-an-ip]}]\n",
        ["audit"],
        (2,),
        "not an IP address",
    ),
    ("audit-missing", None, ["audit", "/nonexistent/x.yaml"], (2,), "no such file"),
    ("audit-dot-dir", None, ["audit", "DOTDIR"], (2,), "nothing to audit here"),
    (
        "audit-dev-zero-values",
        None,
        ["audit", "--helm-command", "helm install c cilium/cilium -f /dev/zero"],
        (2,),
        "larger than",
    ),
    ("audit-helm-quotes", None, ["audit", "--helm-command", 'helm install "x'], (2,), "quot"),
    (
        "audit-pod-cidr",
        None,
        ["audit", "--helm-command", ARTICLE, "--pod-cidr", "notacidr"],
        (2,),
        "not an IPv4 CIDR",
    ),
    (
        "audit-api-server",
        None,
        ["audit", "--helm-command", ARTICLE, "--api-server", "::::"],
        (2,),
        "HOST:PORT",
    ),
    ("audit-nodes-zero", SVC_OK, ["audit", "--nodes", "0"], (2,), "at least 1"),
    ("audit-article", None, ["audit", "--helm-command", ARTICLE], (1,), ""),
    # proxy render
    (
        "render-cluster-ip",
        SVC + "  clusterIP: 999.1.1.1\n  ports: [{port: 80}]\n",
        ["render"],
        (2,),
        "spec.clusterIP: '999.1.1.1' is not an IP address",
    ),
    ("render-port-text", SVC + SVC_PORT % ("eighty", ""), ["render"], (2,), "spec.ports[0].port"),
    (
        "render-node-port",
        SVC + "  type: NodePort\n" + SVC_PORT % ("80", ", nodePort: 99999"),
        ["render"],
        (2,),
        "nodePort",
    ),
    (
        "render-protocol",
        SVC + SVC_PORT % ("80", ", protocol: ICMP"),
        ["render"],
        (2,),
        "protocol",
    ),
    (
        "render-address",
        SVC_OK + "---\n" + SLICE + "endpoints: [{addresses: [not-an-ip]}]\n",
        ["render"],
        (2,),
        "not-an-ip",
    ),
    (
        "render-headless",  # skipped with a warning, as kube-proxy skips it; never a failure
        SVC + "  clusterIP: None\n  ports: [{port: 80}]\n",
        ["render"],
        (0,),
        "headless",
    ),
    (
        "render-nothing",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ["render"],
        (2,),
        "no v1 Service",
    ),
    ("render-proxy-name", SVC_OK, ["render", "--proxy", "bogus"], (2,), "unknown service proxy"),
    ("render-not-utf8", BAD_UTF8, ["render"], (2,), "not UTF-8 text"),
    ("render-deep", DEEP, ["render"], (2,), "maximum nesting depth"),
    ("render-laughs", LOL, ["render"], (2,), "alias"),
    (
        "render-dev-zero",
        None,
        ["proxy", "render", "-f", "/dev/zero", "--node", "n"],
        (2,),
        "larger than",
    ),
    # measuring commands, before anything is built
    ("compare-repeats", None, ["compare", "--repeats", "0"], (2,), "repeats must be 1-100"),
    ("compare-tests", None, ["compare", "--tests", "rr,ping"], (2,), "unknown test 'ping'"),
    ("mtu-sizes", None, ["scenario", "mtu", "--sizes", "64,70000"], (2,), "sizes must be"),
    ("mtu-sizes-text", None, ["scenario", "mtu", "--sizes", "big"], (2,), "integers"),
    ("scale-sizes", None, ["scenario", "service-scale", "--services", "0"], (2,), "services"),
    (
        "scale-api-size",
        None,
        ["scenario", "service-scale", "--services", "30000", "--control-plane", "kubernetes"],
        (2,),
        "at most 20,000 through the lab's API server",
    ),
    ("canary-dev-zero", None, ["scenario", "canary", "-f", "/dev/zero"], (2,), "larger than"),
    ("mtu-encap", None, ["mtu", "--encap", "bogus"], (2,), "unknown encapsulation"),
]


def _argv(args: list[str], path: Path, tmp_path: Path) -> list[str]:
    if not args:
        return ["lab", "up", "-f", str(path), "--dry-run"]
    if args == ["routes"]:
        return ["lab", "up", "--routes", str(path), "--dry-run", "--name", "t-broken"]
    if args[0] == "audit" and (len(args) == 1 or args[1].startswith(".")):
        return ["audit", str(path)]
    if args[0] == "audit" and args[1:2] == ["--nodes"]:
        return ["audit", str(path), *args[1:]]
    if args[0] == "render":
        return ["proxy", "render", "-f", str(path), "--node", "n1", *args[1:]]
    if "DOTDIR" in args:
        (tmp_path / "in" / ".git").mkdir(parents=True)
        (tmp_path / "in" / ".git" / "values.yaml").write_text("tunnel: vxlan\n")
        (tmp_path / "in" / "notes.md").write_text("nothing here\n")
        return [str(tmp_path / "in") if a == "DOTDIR" else a for a in args]
    return args


def run_measured(argv: list[str]) -> tuple[int, str, float, float]:
    """Exit code, stderr, seconds and peak RSS in MB of the child (wait4's rusage)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubenetlab", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, time.monotonic() - started, usage.ru_maxrss / 1024


@pytest.mark.parametrize(
    ("contents", "args", "codes", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_input_is_one_line_and_an_exit_code(
    tmp_path: Path, contents: str | bytes | None, args: list[str], codes: tuple[int, ...], says: str
) -> None:
    suffix = args[1] if args[:1] == ["audit"] and args[1:2] and args[1].startswith(".") else ".yaml"
    path = tmp_path / f"input{suffix}"
    if contents is not None:
        path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    code, err, seconds, rss_mb = run_measured(_argv(args, path, tmp_path))
    lines = err.splitlines()
    assert code in codes, err
    assert "Traceback" not in err, err
    # Bad input: exactly one line. Findings (exit 1): at most one (they go to stdout).
    assert len(lines) == 1 if code == 2 else len(lines) <= 1, err
    assert says in err, err
    assert seconds < 5, f"{seconds:.1f} s"
    assert rss_mb < 300, f"{rss_mb:.0f} MB"


def test_there_are_at_least_60_cases() -> None:
    assert len(CASES) >= 60
