"""Cilium's Helm values as a user has them: values files (`--values FILE`) and the Helm
command they install with (`--helm-command "helm upgrade --install cilium … --set …"`),
merged as Helm merges them — files in order, then each `--set` over them — into the
facts the cluster's cilium-config would show (kube/dataplane_config.cilium_values)."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from kubenetlab.errors import UsageError
from kubenetlab.inputs import read_text
from kubenetlab.kube.dataplane_config import Fact, cilium_values

HELM_VERBS = ("install", "upgrade", "template")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def _merge(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def read_values(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{path}{line}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: Helm values must be a mapping, not {type(data).__name__}")
    return data


def _typed(text: str) -> Any:
    """A --set value as Helm reads it: true/false, an integer, null, else the string."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _set(values: dict[str, Any], assignments: str, as_string: bool, flag: str) -> None:
    for item in _UNESCAPED_COMMA.split(assignments):
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--helm-command: {flag} {assignments!r}: expected key=value")
        text = text.replace("\\,", ",")
        parts = key.split(".")
        node = values
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = text if as_string else _typed(text)


def from_command(command: str) -> dict[str, Any]:
    """The values a `helm install|upgrade|template` command gives: its -f/--values files
    (read from here), then its --set/--set-string assignments, in order."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--helm-command: {exc}") from None
    if len(argv) < 2 or not argv[0].endswith("helm") or argv[1] not in HELM_VERBS:
        raise UsageError("--helm-command must be a `helm install|upgrade|template …` command, "
                         f"not {command[:60]!r}")  # fmt: skip
    files: list[str] = []
    sets: list[tuple[str, str]] = []
    i = 2
    while i < len(argv):
        arg = argv[i]
        flag, eq, inline = arg.partition("=")
        if flag in ("-f", "--values", "--set", "--set-string"):
            if eq:
                given = inline
            elif i + 1 < len(argv):
                i += 1
                given = argv[i]
            else:
                raise UsageError(f"--helm-command: {flag} needs a value")
            if flag in ("-f", "--values"):
                files += given.split(",")
            else:
                sets.append((flag, given))
        i += 1
    values: dict[str, Any] = {}
    for path in files:
        _merge(values, read_values(path))
    for flag, given in sets:
        _set(values, given, flag == "--set-string", flag)
    return values


def facts(values_files: list[str], command: str | None) -> list[Fact]:
    """Cilium's data-path facts from the values files, then the command over them."""
    values: dict[str, Any] = {}
    where = []
    for path in values_files:
        _merge(values, read_values(path))
        where.append(path)
    if command:
        _merge(values, from_command(command))
        where.append("--helm-command")
    if not where:
        return []
    return cilium_values(values, f"Helm values ({', '.join(where)})")
