"""YAML for Go programs (kubectl, kube-proxy, the kubeconfigs) to read as kubenetlab
meant it: PyYAML writes YAML 1.1, where `8576e5` is a plain string, but Go's YAML readers
take it as the number 857,600,000 — a run id or label value of hex digits then breaks
`kubectl apply`. Such strings are quoted; everything else is PyYAML's safe output."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

# Plain scalars a YAML 1.2 (core schema) reader resolves to numbers.
NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)


class Dumper(yaml.SafeDumper):
    """SafeDumper that quotes strings a YAML 1.2 reader would take as numbers."""


def _string(dumper: Dumper, value: str) -> yaml.ScalarNode:
    style = "'" if NUMBER.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _string)


def dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False)


def dump_all(docs: Iterable[Any]) -> str:
    return yaml.dump_all(docs, Dumper=Dumper, sort_keys=False)
