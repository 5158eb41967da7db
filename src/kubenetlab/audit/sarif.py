"""SARIF 2.1.0 (OASIS) for code-scanning UIs: one run, rules from the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubenetlab import __version__
from kubenetlab.audit.findings import Finding, catalogue
from kubenetlab.audit.inputs import InputError

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(file: str) -> str:
    if file.startswith("<"):
        return file.strip("<>")  # a pseudo-file such as <helm-command>
    if file.startswith("cluster://"):
        return file  # an object read from a live cluster: a URI already
    return Path(file).as_posix()


def to_sarif(findings: list[Finding], errors: list[InputError] | None = None) -> dict[str, Any]:
    """SARIF 2.1.0; inputs that could not be read or checked are tool execution
    notifications, so a consumer sees the run was incomplete."""
    rules = catalogue()
    used = sorted({f.rule for f in findings} | set(rules))
    index = {rule_id: i for i, rule_id in enumerate(used)}
    rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "helpUri": r.reference,
            "defaultConfiguration": {"level": LEVEL[r.severity]},
        }
        for r in (rules[i] for i in used)
    ]
    results = []
    for f in findings:
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.file)}}
        if f.line:
            location["region"] = {"startLine": f.line}
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": LEVEL[f.severity],
                "message": {"text": f"{f.message}. Fix: {f.fix}"},
                "locations": [{"physicalLocation": location}],
                "properties": {"fix": f.fix, "reference": f.reference},
            }
        )
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kubenetlab",
                        "version": __version__,
                        "informationUri": "https://github.com/kubenetlab/kubenetlab",
                        "rules": rules,
                    }
                },
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": f"{e.path}: {e.message}"},
                                "locations": [
                                    {
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": _uri(e.path)}
                                        }
                                    }
                                ],
                            }
                            for e in errors or []
                        ],
                    }
                ],
            }
        ],
    }
