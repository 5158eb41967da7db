"""Reading what users hand in: files, YAML, comma-separated lists. The one place where
input is read, so that one place bounds and validates it; every failure is a one-line
UsageError (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubenetlab.errors import UsageError


def read_text(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def load_yaml(path: str | Path) -> Any:
    """One YAML document (a lab spec, Helm values); None for an empty file."""
    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


def load_yaml_documents(path: str | Path) -> list[Any]:
    """Every document of a multi-document YAML file (Kubernetes manifests)."""
    text = read_text(path)
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


def yaml_error(path: str | Path, exc: yaml.YAMLError) -> UsageError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "not valid YAML"
    return UsageError(f"{path}: invalid YAML{where}: {problem}")


def csv_list(value: str, what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise UsageError(f"{what} is empty")
    return items


def csv_ints(value: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in csv_list(value, what))
    except ValueError:
        raise UsageError(f"{what} takes integers, not {value!r}") from None
