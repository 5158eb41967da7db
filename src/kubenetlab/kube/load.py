"""Kubernetes objects from a file: bounded, `kind: List` unwrapped, each checked against
its type, then typed with the file and line it came from."""

from __future__ import annotations

from typing import Any

import yaml

from kubenetlab.errors import UsageError
from kubenetlab.inputs import load_documents, read_text, yaml_error
from kubenetlab.kube.objects import KubeObject, Location, meta_of, parse
from kubenetlab.kube.schemas import problems


def load_checked(path: str) -> list[KubeObject]:
    """Every object of a YAML file, typed; the first unusable one is a UsageError naming
    file:line, the object and the field. Documents that are not mappings are left out."""
    return [typed for _, typed in load_checked_with_data(path)]


def load_checked_with_data(path: str) -> list[tuple[dict[str, Any], KubeObject]]:
    """load_checked, each object beside its dict (for readers of fields the types leave
    out: a DaemonSet's container environment, a Node's status)."""
    try:
        docs = load_documents(read_text(path))
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    out = []
    for doc in docs:
        location = Location(path, doc)
        if found := problems(doc.data):
            where, message = found[0]
            data = doc.data if isinstance(doc.data, dict) else {"kind": "object"}
            ref = meta_of(data, location).ref
            raise UsageError(f"{path}:{doc.line_of(*where)}: {ref}: {message}")
        if isinstance(doc.data, dict):
            out.append((doc.data, parse(doc.data, location)))
    return out
