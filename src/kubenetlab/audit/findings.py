"""Findings, and the catalogue of the rules they come from, collected from the modules that
check them (ids are stable; SARIF lists them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")

CILIUM_DOCS = "https://docs.cilium.io/en/stable/"
GATEWAY_SPEC = "https://gateway-api.sigs.k8s.io/reference/spec/"


@dataclass(frozen=True)
class Rule:
    """One check's identity: its module declares it beside the code that finds it."""

    id: str
    name: str
    severity: str  # default; a finding may raise or lower it (e.g. by Cilium version)
    summary: str
    reference: str

    def finding(
        self,
        file: str,
        line: int | None,
        message: str,
        fix: str,
        severity: str | None = None,
        **details: Any,
    ) -> Finding:
        return Finding(self.id, severity or self.severity, file, line, message, fix, details)


_REGISTERED: dict[str, Rule] = {}
RULE_MODULES = ("cilium_values", "services", "httproute", "dumps")


def register(rule: Rule) -> Rule:
    """Add a rule to the catalogue (at import of the module that checks it)."""
    if _REGISTERED.get(rule.id, rule) != rule:
        raise ValueError(f"two audit rules claim {rule.id}")
    _REGISTERED[rule.id] = rule
    return rule


def catalogue() -> dict[str, Rule]:
    """Every rule, collected from the modules that check them, in id order."""
    import importlib

    for module in RULE_MODULES:
        importlib.import_module(f"kubenetlab.audit.{module}")
    return dict(sorted(_REGISTERED.items()))


@dataclass
class Finding:
    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    fix: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return catalogue()[self.rule].reference

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule,
            "name": catalogue()[self.rule].name,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "reference": self.reference,
            "details": self.details,
        }


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)
