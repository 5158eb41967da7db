"""Audit inputs: read, detect, apply every rule family, collect findings and summaries."""

from __future__ import annotations

import os
import shlex
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from kubenetlab.audit import cilium_values, dumps, helmcmd, httproute, services
from kubenetlab.audit.findings import Finding, at_least
from kubenetlab.audit.inputs import (
    PROGRESS_FROM,
    ClusterInput,
    InputError,
    OnProgress,
    Source,
    read,
)
from kubenetlab.errors import UsageError
from kubenetlab.inputs import Document
from kubenetlab.kube import cluster
from kubenetlab.kube.dataplane_config import facts_of
from kubenetlab.kube.objects import KubeObject, Location, meta_of, parse
from kubenetlab.kube.schemas import problems

HELM_COMMAND = "<helm-command>"


@dataclass
class AuditOptions:
    paths: list[str]
    helm_command: str | None = None
    cilium_version: str | None = None
    nodes: int | None = None
    pod_cidr: str | None = None
    api_server: str | None = None
    kubeconfig: str | None = None  # read the live cluster too (read-only)
    context: str | None = None
    timeout: float = 10

    def __post_init__(self) -> None:
        """Values that end up in a corrected helm command must be what Helm would take."""
        if self.cilium_version is not None and not cilium_values.is_version(self.cilium_version):
            raise UsageError(
                f"--cilium-version {self.cilium_version!r} is not a version (such as 1.16.2)"
            )
        if self.nodes is not None and self.nodes < 1:
            raise UsageError(f"nodes must be at least 1, not {self.nodes}")
        if self.pod_cidr is not None:
            try:
                IPv4Network(self.pod_cidr, strict=True)
            except ValueError:
                raise UsageError(f"pod CIDR {self.pod_cidr!r} is not an IPv4 CIDR") from None
        if self.api_server is not None:
            host, sep, port = self.api_server.rpartition(":")
            bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            valid_host = bool(bare) and (host != bare or not any(c in bare for c in ":/ "))
            if not sep or not valid_host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise UsageError(f"API server {self.api_server!r} must be HOST:PORT (port 1-65535)")


@dataclass
class AuditReport:
    sources: list[Source]
    errors: list[InputError]
    findings: list[Finding]
    summaries: list[dict[str, Any]] = field(default_factory=list)
    corrected_commands: list[dict[str, str]] = field(default_factory=list)

    def failing(self, threshold: str) -> list[Finding]:
        return [f for f in self.findings if at_least(f.severity, threshold)]

    def at_least(self, severity: str) -> AuditReport:
        """The same report with only findings at or above `severity` (--min-severity)."""
        kept = self.failing(severity)
        return AuditReport(self.sources, self.errors, kept, self.summaries, self.corrected_commands)

    def to_dict(self) -> dict[str, Any]:
        counts = {
            s: sum(f.severity == s for f in self.findings) for s in ("error", "warning", "info")
        }
        return {
            "schema_version": 1,
            "kind": "audit",
            "inputs": [
                {
                    "path": s.path,
                    "kind": s.kind,
                    "documents": len(s.docs),
                    **(s.data.to_dict() if isinstance(s.data, ClusterInput) else {}),
                }
                for s in self.sources
            ],
            "errors": [{"path": e.path, "message": e.message} for e in self.errors],
            "counts": counts,
            "findings": [f.to_dict() for f in self.findings],
            "summaries": self.summaries,
            "corrected_commands": self.corrected_commands,
        }


def _values_context(
    values: dict[str, Any],
    version_text: str | None,
    file: str,
    doc: Document | None,
    cmd: helmcmd.HelmCommand | None,
) -> cilium_values.ValuesContext:
    parsed = cilium_values.parse_version(version_text)
    version = parsed or cilium_values.LATEST_KNOWN
    note = (
        f"{version_text}"
        if parsed
        else f"assumed {'.'.join(map(str, version[:2]))} (no Cilium version given)"
    )

    def line_of(dotted: str) -> int | None:
        if doc is None or cilium_values.get(values, dotted) is None:
            return None
        return doc.line_of(*dotted.split("."))

    def written(dotted: str) -> str:
        if cmd is not None and (flag := cmd.flag_for(dotted)):
            return flag
        value = cilium_values.get(values, dotted)
        return f"{dotted}: {value}" if value is not None else dotted

    return cilium_values.ValuesContext(values, version, note, file, line_of, written)


def _cilium_findings(
    values: dict[str, Any],
    version_text: str | None,
    file: str,
    doc: Document | None,
    cmd: helmcmd.HelmCommand | None,
) -> tuple[cilium_values.ValuesContext, list[Finding]]:
    """Refused values as findings, then every check on the values without them."""
    invalid = cilium_values.invalid_values(values)
    as_written = _values_context(values, version_text, file, doc, cmd)
    found = [cilium_values.invalid_value_finding(as_written, p, m) for p, m in invalid]
    if invalid and not isinstance(values, dict):
        return as_written, found
    ctx = _values_context(
        cilium_values.without(values, [p for p, _ in invalid]), version_text, file, doc, cmd
    )
    return ctx, found + cilium_values.check(ctx)


def _is_cilium_values(values: dict[str, Any], chart: str | None = None) -> bool:
    if chart is not None:
        return chart.split("/")[-1].startswith("cilium")
    keys = {
        "tunnel",
        "routingMode",
        "kubeProxyReplacement",
        "ipam",
        "hubble",
        "bpf",
        "autoDirectNodeRoutes",
        "tunnelProtocol",
        "ipv4NativeRoutingCIDR",
        "cni",
    }
    return len(keys & set(values)) >= 1


def audit(options: AuditOptions, on_progress: OnProgress | None = None) -> AuditReport:
    """`on_progress` hears how far reading and checking a large input has come."""
    sources, errors = read(options.paths, on_progress) if options.paths else ([], [])
    report = AuditReport(sources, errors, [])
    objects: list[KubeObject] = _read_cluster(options, report) if options.kubeconfig else []
    for src in sources:
        try:
            objects += _audit_source(src, options, report, on_progress)
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
            # A shape no check expected: that input is reported, the others still audited.
            if os.environ.get("KUBENETLAB_DEBUG"):
                raise
            report.errors.append(InputError(src.path, f"could not be analysed ({exc!r})"))
    if options.helm_command:
        _audit_helm_command(options, report)
    report.findings += services.check(objects, options.nodes)
    report.findings += httproute.check(objects)
    rank = {"error": 0, "warning": 1, "info": 2}
    report.findings.sort(key=lambda f: (f.file, rank[f.severity], f.line or 0, f.rule))
    return report


# What audit reads from a live cluster: what it reads from a `kubectl get -A -o yaml` dump.
CLUSTER_KINDS = [
    cluster.SERVICES, cluster.ENDPOINT_SLICES, cluster.NODES, cluster.DEPLOYMENTS,
    cluster.STATEFUL_SETS, cluster.DAEMON_SETS, cluster.GATEWAYS, cluster.HTTP_ROUTES,
]  # fmt: skip


def _read_cluster(options: AuditOptions, report: AuditReport) -> list[KubeObject]:
    """The cluster's objects, typed with `cluster://` locations; the cluster as an input."""
    assert options.kubeconfig is not None
    with cluster.Cluster(options.kubeconfig, options.context, options.timeout) as live:
        found, notes = cluster.read_objects(
            live, CLUSTER_KINDS, (cluster.CILIUM_CONFIG, cluster.KUBE_PROXY_CONFIG)
        )
        facts = [f for o in found if o["kind"] == "ConfigMap" for f in facts_of(o)]
        counts = Counter(o["kind"] for o in found if o["kind"] != "ConfigMap")
        report.sources.append(
            Source(f"cluster://{live.context}", "cluster",
                   data=ClusterInput(live.server, live.version, dict(counts), facts, notes))
        )  # fmt: skip
        return live.typed([o for o in found if o["kind"] != "ConfigMap"])


def _audit_source(
    src: Source, options: AuditOptions, report: AuditReport, on_progress: OnProgress | None
) -> list[KubeObject]:
    """Findings of one input into `report`; its Kubernetes objects (checked) returned."""
    if src.kind == "kubernetes":
        return _usable_objects(src, report, on_progress)
    if src.kind == "helm-values" and _is_cilium_values(src.docs[0].data):
        doc = src.docs[0]
        _, found = _cilium_findings(doc.data, options.cilium_version, src.path, doc, None)
        report.findings += found
    elif src.kind in ANALYSERS:
        found, summary = ANALYSERS[src.kind](src)
        report.findings += found
        report.summaries.append(summary)
    return []


ANALYSERS = {
    "iptables-save": lambda src: dumps.analyse_iptables(src.path, src.text),
    "nft-ruleset": lambda src: dumps.analyse_nft(src.path, src.text),
    "nft-json": lambda src: dumps.analyse_nft_json(src.path, src.data),
}


def _usable_objects(
    src: Source, report: AuditReport, on_progress: OnProgress | None = None
) -> list[KubeObject]:
    """Objects whose fields have the types the API server requires; the others are errors
    naming file:line and field, and are left out of every check."""
    usable = []
    every = 1000 if on_progress is not None and len(src.text) >= PROGRESS_FROM else 0
    for n, doc in enumerate(src.docs, 1):
        if every and n % every == 0:
            assert on_progress is not None
            on_progress(f"checking {src.path}", n, len(src.docs))
        if not isinstance(doc.data, dict):
            continue
        found = problems(doc.data)
        location = Location(src.path, doc)
        if not found:
            usable.append(parse(doc.data, location))
            continue
        path, message = found[0]
        ref = meta_of(doc.data, location).ref
        report.errors.append(InputError(f"{src.path}:{doc.line_of(*path)}", f"{ref}: {message}"))
    return usable


def _audit_helm_command(options: AuditOptions, report: AuditReport) -> None:
    assert options.helm_command is not None
    cmd = helmcmd.parse(options.helm_command)
    report.sources.append(Source(HELM_COMMAND, "helm-command", text=options.helm_command, data=cmd))
    if not _is_cilium_values(cmd.values, cmd.chart):
        return
    ctx, found = _cilium_findings(
        cmd.values, options.cilium_version or cmd.version, HELM_COMMAND, None, cmd
    )
    report.findings += found
    if found:
        report.corrected_commands.append(
            {
                "original": " ".join(options.helm_command.split()),
                "corrected": _corrected_command(cmd, ctx, options),
            }
        )


def _corrected_command(
    cmd: helmcmd.HelmCommand, ctx: cilium_values.ValuesContext, options: AuditOptions
) -> str:
    words = ["helm", cmd.subcommand]
    words += [w for w in (cmd.release, cmd.chart) if w]
    if cmd.version:
        words += ["--version", cmd.version]
    if cmd.namespace:
        words += ["--namespace", cmd.namespace]
    words += cmd.other_args
    for pair in cilium_values.corrected_sets(ctx, options.pod_cidr, options.api_server):
        words += ["--set", pair]
    return " ".join(
        shlex.quote(w) if w and not w.startswith("<") and "<" not in w else w for w in words
    )
