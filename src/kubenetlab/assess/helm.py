"""Cilium's Helm values as a user has them: values files (`--values FILE`) and the Helm
command they install with (`--helm-command "helm upgrade --install cilium … --set …"`),
merged as Helm merges them — files in order, then the command's own (its `-f` files,
then its `--set*` flags by kind: audit/helmcmd.py, which `audit --helm-command` reads
with too) — into the facts the cluster's cilium-config would show
(kube/dataplane_config.cilium_values)."""

from __future__ import annotations

from typing import Any

from kubenetlab.audit import helmcmd
from kubenetlab.errors import UsageError
from kubenetlab.inputs import load_yaml
from kubenetlab.kube.dataplane_config import Fact, cilium_values


def read_values(path: str) -> dict[str, Any]:
    data = load_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"{path}: Helm values must be a mapping, not {type(data).__name__}")
    return data or {}


def facts(values_files: list[str], command: str | None) -> list[Fact]:
    """Cilium's data-path facts from the values files, then the command over them."""
    values: dict[str, Any] = {}
    where = []
    for path in values_files:
        values = helmcmd.merge(values, read_values(path))
        where.append(path)
    if command:
        values = helmcmd.merge(values, helmcmd.parse(command).values)
        where.append("--helm-command")
    if not where:
        return []
    return cilium_values(values, f"Helm values ({', '.join(where)})")
