"""Read files and directories; tell what each one is."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubenetlab.audit.yamlsrc import Doc, load_documents
from kubenetlab.errors import UsageError
from kubenetlab.inputs import read_text

SUFFIXES = {".yaml", ".yml", ".json", ".txt", ".rules", ".nft", ".ipt", ".save", ".conf", ".v4"}
NFT_TABLE = re.compile(r"^table (ip|ip6|inet|arp|bridge|netdev) \S+ \{", re.M)

KINDS = {
    "kubernetes": "Kubernetes manifests",
    "helm-values": "Helm values",
    "helm-command": "helm command line",
    "iptables-save": "iptables-save output",
    "nft-ruleset": "nft list ruleset output",
    "nft-json": "nft -j list ruleset output",
}


@dataclass
class Source:
    path: str
    kind: str
    text: str = ""
    docs: list[Doc] = field(default_factory=list)
    data: Any = None  # parsed JSON for nft-json; HelmCommand for helm-command

    def describe(self) -> str:
        count = f", {len(self.docs)} documents" if self.kind == "kubernetes" else ""
        return f"{self.path}: {KINDS[self.kind]}{count}"


@dataclass
class InputError:
    path: str
    message: str


def expand(paths: list[str]) -> tuple[list[Path], list[InputError]]:
    files: list[Path] = []
    errors: list[InputError] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            files += sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix in SUFFIXES
                and not any(part.startswith(".") for part in f.parts)
            )
        elif p.is_file():
            files.append(p)
        else:
            errors.append(InputError(name, "no such file or directory"))
    return files, errors


def detect(path: str, text: str) -> Source:
    """Raise ValueError with the reason when the file is none of the known kinds."""
    stripped = text.lstrip()
    if re.search(r"^\*(nat|filter|mangle|raw|security)\s*$", text, re.M) and "COMMIT" in text:
        return Source(path, "iptables-save", text=text)
    if NFT_TABLE.search(text):
        return Source(path, "nft-ruleset", text=text)
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if isinstance(data, dict) and "nftables" in data:
            return Source(path, "nft-json", text=text, data=data)
    try:
        docs = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not docs:
        raise ValueError("empty: no YAML document, rule dump or ruleset")
    if any(isinstance(d.data, dict) and "apiVersion" in d.data and "kind" in d.data for d in docs):
        return Source(path, "kubernetes", text=text, docs=docs)
    if len(docs) == 1 and isinstance(docs[0].data, dict):
        return Source(path, "helm-values", text=text, docs=docs)
    raise ValueError("not a Kubernetes manifest, Helm values, iptables-save or nft ruleset")


def read(paths: list[str]) -> tuple[list[Source], list[InputError]]:
    files, errors = expand(paths)
    sources: list[Source] = []
    for f in files:
        try:
            text = read_text(f)
        except UsageError as exc:  # "file[:line]: reason"
            location, _, reason = exc.message.partition(": ")
            errors.append(InputError(location, reason))
            continue
        try:
            sources.append(detect(str(f), text))
        except ValueError as exc:
            errors.append(InputError(str(f), str(exc)))
    return sources, errors
