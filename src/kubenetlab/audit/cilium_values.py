"""Cilium Helm values, checked against the chart and agent of a given Cilium version.

Facts (Cilium docs and chart, see FACTS.md): `tunnel` deprecated in 1.14, removed in
1.15 (the chart fails: "tunnel was deprecated in v1.14 and has been removed in v1.15");
`routingMode` native|tunnel (default tunnel) and `tunnelProtocol` vxlan|geneve replace
it. Native routing needs `ipv4NativeRoutingCIDR` while masquerading is on (the agent
exits otherwise). `autoDirectNodeRoutes` with tunnelling is fatal ("auto-direct-node-
routes cannot be used with tunneling") and needs a shared L2. `kubeProxyReplacement`
takes true/false from 1.14 (strict/partial deprecated; 1.15 no longer treats `strict`
as true; `probe` was removed in 1.13) and needs `k8sServiceHost`/`k8sServicePort`.
`loadBalancer.mode=dsr|hybrid` needs native routing with `dsrDispatch=opt` (default),
or `dsrDispatch=geneve` with `tunnelProtocol=geneve`. eBPF host routing needs
`bpf.masquerade=true`. `MTU: 0` (default) auto-detects and subtracts the overhead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from kubenetlab.audit.findings import CILIUM_DOCS, Finding, Rule, register
from kubenetlab.kube.schemas import field_name

CILIUM_TUNNEL_REMOVED = register(
    Rule(
        "KNL-CIL-001",
        "cilium-tunnel-removed",
        "error",
        "`tunnel` was deprecated in Cilium 1.14 and removed in 1.15",
        CILIUM_DOCS + "operations/upgrade/#upgrade-notes",
    )
)

CILIUM_NATIVE_ROUTING_CIDR = register(
    Rule(
        "KNL-CIL-002",
        "cilium-native-routing-cidr",
        "error",
        "native routing needs ipv4NativeRoutingCIDR",
        CILIUM_DOCS + "network/concepts/routing/#native-routing",
    )
)

CILIUM_DIRECT_ROUTES_WITH_TUNNEL = register(
    Rule(
        "KNL-CIL-003",
        "cilium-direct-routes-with-tunnel",
        "error",
        "autoDirectNodeRoutes cannot be combined with tunnelling",
        CILIUM_DOCS + "network/concepts/routing/#native-routing",
    )
)

CILIUM_DIRECT_ROUTES_NEED_L2 = register(
    Rule(
        "KNL-CIL-004",
        "cilium-direct-routes-need-l2",
        "info",
        "autoDirectNodeRoutes needs every node on one L2 segment",
        CILIUM_DOCS + "network/concepts/routing/#native-routing",
    )
)

CILIUM_KPR_LEGACY_VALUE = register(
    Rule(
        "KNL-CIL-005",
        "cilium-kpr-legacy-value",
        "warning",
        "kubeProxyReplacement takes true/false from 1.14",
        CILIUM_DOCS + "network/kubernetes/kubeproxy-free/",
    )
)

CILIUM_KPR_API_SERVER = register(
    Rule(
        "KNL-CIL-006",
        "cilium-kpr-api-server",
        "error",
        "kube-proxy replacement needs k8sServiceHost and k8sServicePort",
        CILIUM_DOCS + "network/kubernetes/kubeproxy-free/",
    )
)

CILIUM_DSR_ROUTING = register(
    Rule(
        "KNL-CIL-007",
        "cilium-dsr-routing",
        "error",
        "loadBalancer.mode=dsr needs native routing (or Geneve dispatch)",
        CILIUM_DOCS + "network/kubernetes/kubeproxy-free/#direct-server-return-dsr",
    )
)

CILIUM_DSR_WITHOUT_KPR = register(
    Rule(
        "KNL-CIL-008",
        "cilium-dsr-without-kpr",
        "error",
        "loadBalancer.mode only applies with kube-proxy replacement",
        CILIUM_DOCS + "network/kubernetes/kubeproxy-free/#direct-server-return-dsr",
    )
)

CILIUM_BPF_MASQUERADE = register(
    Rule(
        "KNL-CIL-009",
        "cilium-bpf-masquerade",
        "warning",
        "eBPF host routing needs bpf.masquerade=true",
        CILIUM_DOCS + "operations/performance/tuning/#ebpf-host-routing",
    )
)

CILIUM_FIXED_MTU = register(
    Rule(
        "KNL-CIL-010",
        "cilium-fixed-mtu",
        "warning",
        "a fixed MTU must leave room for the encapsulation",
        CILIUM_DOCS + "network/concepts/routing/",
    )
)

CILIUM_VALUE_INVALID = register(
    Rule(
        "KNL-CIL-011",
        "cilium-value-invalid",
        "error",
        "a value the chart or the agent refuses (wrong type, not a CIDR, not a port)",
        CILIUM_DOCS + "helm-reference/",
    )
)


Version = tuple[int, int, int]
LATEST_KNOWN: Version = (1, 16, 0)
POD_CIDR_PLACEHOLDER = "<POD_CIDR>"
API_HOST_PLACEHOLDER = "<API_SERVER_HOST>"


def parse_version(text: str | None) -> Version | None:
    """1.16.2, v1.16, 1.17.0-rc.1 — or the first version in a Helm constraint (`~1.15`)."""
    if not text:
        return None
    m = re.search(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if m is None:
        return None
    major, minor, patch = (int(g) if g else 0 for g in m.groups())
    return major, minor, patch


def is_version(text: str) -> bool:
    """A concrete Cilium version, as `--cilium-version` takes: 1.16, 1.16.2, v1.17.0-rc.1."""
    return re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[0-9A-Za-z.-]+)?", text) is not None


def get(values: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


@dataclass
class ValuesContext:
    values: dict[str, Any]
    version: Version
    version_note: str  # "1.16.2 (--version)" or "assumed 1.16 (no version given)"
    file: str
    line_of: Callable[[str], int | None]
    written: Callable[[str], str]  # how the user wrote a key: "--set tunnel=disabled"

    @property
    def kpr(self) -> bool:
        return get(self.values, "kubeProxyReplacement") in (True, "true", "strict")


def routing(ctx: ValuesContext) -> tuple[str, str]:
    """(effective routing mode, why) for this version."""
    mode = get(ctx.values, "routingMode")
    tunnel = get(ctx.values, "tunnel")
    if mode in ("native", "tunnel"):
        return mode, f"routingMode={mode}"
    if tunnel is not None and ctx.version < (1, 15, 0):
        return ("native" if tunnel == "disabled" else "tunnel"), f"tunnel={tunnel}"
    if tunnel is not None:
        return (
            "tunnel",
            f"the default routingMode=tunnel (tunnel={tunnel} is not read by {_v(ctx)})",
        )
    return "tunnel", "the default routingMode=tunnel"


def wants_native(ctx: ValuesContext) -> bool:
    return get(ctx.values, "routingMode") == "native" or get(ctx.values, "tunnel") == "disabled"


def _v(ctx: ValuesContext) -> str:
    return "Cilium " + ".".join(map(str, ctx.version))


# The values the checks read, as the chart's values.schema.json types them and as the agent
# parses them at start-up (a port number, a CIDR, the kube-proxy-replacement words).
VALUES_SCHEMA = {
    "type": "object",
    "properties": {
        "tunnel": {"type": "string"},
        "routingMode": {"enum": ["native", "tunnel", ""]},
        "tunnelProtocol": {"enum": ["vxlan", "geneve", ""]},
        "autoDirectNodeRoutes": {"type": "boolean"},
        "kubeProxyReplacement": {
            "enum": [True, False, "true", "false", "strict", "partial", "disabled", "probe", ""]
        },
        "k8sServiceHost": {"type": "string"},
        "k8sServicePort": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "format": "port"},
            ]
        },
        "ipv4NativeRoutingCIDR": {"type": "string", "format": "ipv4-cidr-or-empty"},
        "enableIPv4Masquerade": {"type": "boolean"},
        "MTU": {"type": "integer", "minimum": 0},
        "bpf": {"type": "object", "properties": {"masquerade": {"type": "boolean"}}},
        "loadBalancer": {
            "type": "object",
            "properties": {
                "mode": {"enum": ["snat", "dsr", "hybrid", "annotation"]},
                "dsrDispatch": {"enum": ["opt", "ipip", "geneve"]},
            },
        },
    },
}
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("ipv4-cidr-or-empty", raises=ValueError)
def _ipv4_cidr(text: object) -> bool:
    # The agent parses it with Go's net.ParseCIDR: host bits may be set.
    if isinstance(text, str) and text:
        IPv4Network(text, strict=False)
    return True


@_FORMATS.checks("port")
def _port(text: object) -> bool:
    if not isinstance(text, str) or not text:
        return True
    return text.isdigit() and 1 <= int(text) <= 65535


_VALUES = Draft202012Validator(VALUES_SCHEMA, format_checker=_FORMATS)


def invalid_values(values: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Every value the chart or agent would refuse: (path, message), in key order."""
    found = {}
    for error in _VALUES.iter_errors(values):
        path = tuple(error.absolute_path)
        message = error.message
        if error.validator == "anyOf":  # k8sServicePort: say what is expected, once
            message = f"{error.instance!r} is not a port number (1-65535)"
        elif error.validator == "format":
            message = f"{error.instance!r} is not an IPv4 CIDR"
        elif error.validator == "enum":
            words = dict.fromkeys(_fmt(v) for v in error.validator_value if v != "")
            message = f"{error.instance!r} is not one of {', '.join(words)}"
        elif error.validator == "type" and error.validator_value == "object":
            message = f"{error.instance!r} is not a mapping of settings"
        found.setdefault(path, message)
    return sorted(found.items(), key=lambda item: list(map(str, item[0])))


def invalid_value_finding(ctx: ValuesContext, path: tuple[str | int, ...], message: str) -> Finding:
    dotted = ".".join(map(str, path))
    return CILIUM_VALUE_INVALID.finding(
        ctx.file,
        ctx.line_of(dotted) if dotted else None,
        f"{ctx.written(dotted) if dotted else 'Helm values'}: {message}; `helm install` or the "
        "agent's start refuses it",
        f"give {field_name(path) or 'the values'} a valid value (the other checks ran without it)",
    )


def without(values: dict[str, Any], paths: list[tuple[str | int, ...]]) -> dict[str, Any]:
    """A copy of `values` with the entries at `paths` removed (for checks after a refusal)."""
    out = copy.deepcopy(values)
    for path in paths:
        node: Any = out
        for part in path[:-1]:
            node = node[part] if isinstance(node, (dict, list)) else None
        if path and isinstance(node, dict):
            node.pop(path[-1], None)
    return out


ValuesCheck = Callable[[ValuesContext], Iterator[Finding]]
VALUES_CHECKS: list[ValuesCheck] = []


def values_check(fn: ValuesCheck) -> ValuesCheck:
    """A rule's check on Helm values: one function, listed in VALUES_CHECKS in id order."""
    VALUES_CHECKS.append(fn)
    return fn


def check(ctx: ValuesContext) -> list[Finding]:
    return [found for rule_check in VALUES_CHECKS for found in rule_check(ctx)]


@values_check
def tunnel_removed(ctx: ValuesContext) -> Iterator[Finding]:
    tunnel = get(ctx.values, "tunnel")
    if tunnel is None or ctx.version < (1, 14, 0):
        return
    replacement = (
        "routingMode=native"
        if tunnel == "disabled"
        else f"routingMode=tunnel and tunnelProtocol={tunnel}"
    )
    removed = ctx.version >= (1, 15, 0)
    yield CILIUM_TUNNEL_REMOVED.finding(
        ctx.file,
        ctx.line_of("tunnel"),
        f"{ctx.written('tunnel')}: {'removed in 1.15, so on' if removed else 'deprecated in'} "
        f"{_v(ctx)}"
        + (
            ': `helm install` fails with "tunnel was deprecated in v1.14 and has '
            'been removed in v1.15"'
            if removed
            else ""
        ),
        f"use {replacement}",
        severity="error" if removed else "warning",
        version=ctx.version_note,
    )


@values_check
def native_routing_cidr(ctx: ValuesContext) -> Iterator[Finding]:
    masquerade = get(ctx.values, "enableIPv4Masquerade", True) is not False
    if wants_native(ctx) and masquerade and not get(ctx.values, "ipv4NativeRoutingCIDR"):
        yield CILIUM_NATIVE_ROUTING_CIDR.finding(
            ctx.file,
            ctx.line_of("routingMode") or ctx.line_of("tunnel"),
            "native routing without ipv4NativeRoutingCIDR: the agent refuses to start, because "
            "it cannot tell which destinations are reachable without masquerading",
            "set ipv4NativeRoutingCIDR to the CIDR routable without SNAT (the pod CIDR)",
        )


@values_check
def direct_routes_with_tunnel(ctx: ValuesContext) -> Iterator[Finding]:
    mode, why = routing(ctx)
    if get(ctx.values, "autoDirectNodeRoutes") is True and mode == "tunnel":
        yield CILIUM_DIRECT_ROUTES_WITH_TUNNEL.finding(
            ctx.file,
            ctx.line_of("autoDirectNodeRoutes"),
            f"autoDirectNodeRoutes=true while routing is tunnel ({why}): the agent exits with "
            '"auto-direct-node-routes cannot be used with tunneling"',
            "set routingMode=native (with ipv4NativeRoutingCIDR), or drop autoDirectNodeRoutes",
        )


@values_check
def direct_routes_need_l2(ctx: ValuesContext) -> Iterator[Finding]:
    if get(ctx.values, "autoDirectNodeRoutes") is True:
        yield CILIUM_DIRECT_ROUTES_NEED_L2.finding(
            ctx.file,
            ctx.line_of("autoDirectNodeRoutes"),
            "autoDirectNodeRoutes installs a route to each node's pod CIDR via that node's IP: "
            "it works only when every node shares one L2 segment",
            "nodes in different subnets need BGP (bgpControlPlane.enabled=true) or tunnelling",
        )


@values_check
def kpr_checks(ctx: ValuesContext) -> Iterator[Finding]:
    kpr = get(ctx.values, "kubeProxyReplacement")
    if kpr is not None:
        yield from _check_kpr(ctx, kpr)


@values_check
def dsr_routing(ctx: ValuesContext) -> Iterator[Finding]:
    lb_mode = get(ctx.values, "loadBalancer.mode")
    if lb_mode not in ("dsr", "hybrid"):
        return
    mode, why = routing(ctx)
    dispatch = get(ctx.values, "loadBalancer.dsrDispatch", "opt")
    proto = get(ctx.values, "tunnelProtocol", "vxlan")
    if mode == "tunnel" and not (dispatch == "geneve" and proto == "geneve"):
        yield CILIUM_DSR_ROUTING.finding(
            ctx.file,
            ctx.line_of("loadBalancer.mode"),
            f"loadBalancer.mode={lb_mode} with tunnel routing ({why}) and dsrDispatch="
            f"{dispatch}: DSR with the default dispatch needs native routing, so replies "
            "would not bypass the load-balancing node",
            "use routingMode=native, or loadBalancer.dsrDispatch=geneve with tunnelProtocol=geneve",
        )
    if not ctx.kpr:
        yield CILIUM_DSR_WITHOUT_KPR.finding(
            ctx.file,
            ctx.line_of("loadBalancer.mode"),
            f"loadBalancer.mode={lb_mode} has no effect without kube-proxy replacement",
            "set kubeProxyReplacement=true",
        )


@values_check
def bpf_masquerade(ctx: ValuesContext) -> Iterator[Finding]:
    mode, _ = routing(ctx)
    if ctx.kpr and mode == "native" and get(ctx.values, "bpf.masquerade") is not True:
        yield CILIUM_BPF_MASQUERADE.finding(
            ctx.file,
            ctx.line_of("kubeProxyReplacement"),
            "kube-proxy replacement with native routing but without bpf.masquerade=true: eBPF "
            "host routing stays off and forwarded packets still go through the host stack "
            "(iptables masquerading, netfilter)",
            "set bpf.masquerade=true",
        )


@values_check
def fixed_mtu(ctx: ValuesContext) -> Iterator[Finding]:
    mtu = get(ctx.values, "MTU")
    mode, _ = routing(ctx)
    if isinstance(mtu, int) and mtu > 0 and mode == "tunnel" and mtu > 1450:
        yield CILIUM_FIXED_MTU.finding(
            ctx.file,
            ctx.line_of("MTU"),
            f"MTU={mtu} with tunnel routing: pods get {mtu} bytes but VXLAN/Geneve adds 50, so a "
            f"{mtu}-byte packet does not fit a 1500-byte underlay and fragments or drops",
            "leave MTU at 0 (auto-detect and subtract the overhead) or set underlay MTU − 50",
        )


def _check_kpr(ctx: ValuesContext, kpr: Any) -> list[Finding]:
    out: list[Finding] = []
    v = ctx.version
    legacy = {
        "strict": "true",
        "disabled": "false",
        "partial": "false plus the individual features you need",
        "probe": "false plus the individual features you need",
    }
    if v >= (1, 14, 0) and kpr in legacy:
        severe = kpr == "probe" or (kpr == "strict" and v >= (1, 15, 0))
        out.append(
            CILIUM_KPR_LEGACY_VALUE.finding(
                ctx.file,
                ctx.line_of("kubeProxyReplacement"),
                f"kubeProxyReplacement={kpr} on {_v(ctx)}: it takes true/false since 1.14"
                + (" and no longer reads 'strict' as true" if kpr == "strict" and severe else ""),
                f"use kubeProxyReplacement={legacy[kpr]}",
                severity="error" if severe else "warning",
            )
        )
    elif v < (1, 14, 0) and kpr in (True, False, "true", "false"):
        out.append(
            CILIUM_KPR_LEGACY_VALUE.finding(
                ctx.file,
                ctx.line_of("kubeProxyReplacement"),
                f"kubeProxyReplacement={kpr} on {_v(ctx)}: before 1.14 it takes "
                "strict/partial/disabled",
                "use strict (or disabled)",
                severity="error",
            )
        )
    host, port = get(ctx.values, "k8sServiceHost"), get(ctx.values, "k8sServicePort")
    if ctx.kpr and (not host or (not port and host != "auto")):
        missing = " and ".join(
            k for k, val in (("k8sServiceHost", host), ("k8sServicePort", port)) if not val
        )
        out.append(
            CILIUM_KPR_API_SERVER.finding(
                ctx.file,
                ctx.line_of("kubeProxyReplacement"),
                f"kube-proxy replacement without {missing}: with no kube-proxy, nothing translates "
                "the `kubernetes` Service's ClusterIP for the agent, so it cannot reach the API server",
                "set k8sServiceHost and k8sServicePort to the API server's address (or "
                "k8sServiceHost=auto on kubeadm clusters)",
            )
        )
    return out


def corrected_sets(ctx: ValuesContext, pod_cidr: str | None, api: str | None) -> list[str]:
    """`--set` pairs that fix every finding of `check`, keeping the user's intent."""
    vals = ctx.values
    sets: dict[str, str] = {}
    native = wants_native(ctx) or get(vals, "autoDirectNodeRoutes") is True
    tunnel = get(vals, "tunnel")
    if native:
        sets["routingMode"] = "native"
        sets["ipv4NativeRoutingCIDR"] = (
            get(vals, "ipv4NativeRoutingCIDR") or pod_cidr or POD_CIDR_PLACEHOLDER
        )
    elif tunnel not in (None, "disabled"):
        sets["routingMode"], sets["tunnelProtocol"] = "tunnel", str(tunnel)
    for key in ("autoDirectNodeRoutes",):
        if get(vals, key) is not None:
            sets[key] = _fmt(get(vals, key))
    kpr = get(vals, "kubeProxyReplacement")
    if kpr is not None:
        sets["kubeProxyReplacement"] = {
            "strict": "true",
            "disabled": "false",
            "partial": "false",
            "probe": "false",
        }.get(str(kpr), _fmt(kpr))
    if sets.get("kubeProxyReplacement") == "true":
        host, _, port = (api or "").partition(":")
        sets["k8sServiceHost"] = _fmt(get(vals, "k8sServiceHost") or host or API_HOST_PLACEHOLDER)
        sets["k8sServicePort"] = _fmt(get(vals, "k8sServicePort") or port or 6443)
        if native:
            sets["bpf.masquerade"] = "true"
    if get(vals, "loadBalancer.mode") is not None:
        sets["loadBalancer.mode"] = _fmt(get(vals, "loadBalancer.mode"))
    skip = {"tunnel", *sets}
    for key, value in _flatten(vals):
        if key not in skip and not any(key.startswith(s + ".") for s in skip):
            sets[key] = _fmt(value)
    return [f"{k}={v}" for k, v in sets.items()]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out
