"""Audit inputs: read, detect, apply every rule family, collect findings and summaries."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.audit import cilium_values, dumps, helmcmd, httproute, services
from kubenetlab.audit.findings import Finding, at_least
from kubenetlab.audit.inputs import InputError, Source, read
from kubenetlab.audit.services import Obj
from kubenetlab.audit.yamlsrc import Doc

HELM_COMMAND = "<helm-command>"


@dataclass
class AuditOptions:
    paths: list[str]
    helm_command: str | None = None
    cilium_version: str | None = None
    nodes: int | None = None
    pod_cidr: str | None = None
    api_server: str | None = None


@dataclass
class AuditReport:
    sources: list[Source]
    errors: list[InputError]
    findings: list[Finding]
    summaries: list[dict[str, Any]] = field(default_factory=list)
    corrected_commands: list[dict[str, str]] = field(default_factory=list)

    def failing(self, threshold: str) -> list[Finding]:
        return [f for f in self.findings if at_least(f.severity, threshold)]

    def to_dict(self) -> dict[str, Any]:
        counts = {
            s: sum(f.severity == s for f in self.findings) for s in ("error", "warning", "info")
        }
        return {
            "schema_version": 1,
            "inputs": [
                {"path": s.path, "kind": s.kind, "documents": len(s.docs)} for s in self.sources
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
    doc: Doc | None,
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


def audit(options: AuditOptions) -> AuditReport:
    sources, errors = read(options.paths) if options.paths else ([], [])
    findings: list[Finding] = []
    summaries: list[dict[str, Any]] = []
    corrected: list[dict[str, str]] = []
    objects: list[Obj] = []
    for src in sources:
        if src.kind == "kubernetes":
            objects += [Obj(src.path, d) for d in src.docs if isinstance(d.data, dict)]
        elif src.kind == "helm-values" and _is_cilium_values(src.docs[0].data):
            ctx = _values_context(
                src.docs[0].data, options.cilium_version, src.path, src.docs[0], None
            )
            findings += cilium_values.check(ctx)
        elif src.kind == "iptables-save":
            f, s = dumps.analyse_iptables(src.path, src.text)
            findings += f
            summaries.append(s)
        elif src.kind == "nft-ruleset":
            f, s = dumps.analyse_nft(src.path, src.text)
            findings += f
            summaries.append(s)
        elif src.kind == "nft-json":
            f, s = dumps.analyse_nft_json(src.path, src.data)
            findings += f
            summaries.append(s)
    if options.helm_command:
        cmd = helmcmd.parse(options.helm_command)
        sources.append(Source(HELM_COMMAND, "helm-command", text=options.helm_command, data=cmd))
        if _is_cilium_values(cmd.values, cmd.chart):
            version = options.cilium_version or cmd.version
            ctx = _values_context(cmd.values, version, HELM_COMMAND, None, cmd)
            found = cilium_values.check(ctx)
            findings += found
            if found:
                corrected.append(
                    {
                        "original": " ".join(options.helm_command.split()),
                        "corrected": _corrected_command(cmd, ctx, options),
                    }
                )
    findings += services.check(objects, options.nodes)
    findings += httproute.check(objects)
    rank = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: (f.file, rank[f.severity], f.line or 0, f.rule))
    return AuditReport(sources, errors, findings, summaries, corrected)


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
