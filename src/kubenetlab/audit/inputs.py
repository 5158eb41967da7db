"""Read files and directories; tell what each one is."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from kubenetlab.audit import restore_syntax
from kubenetlab.errors import UsageError
from kubenetlab.inputs import STDIN, Document, load_documents, read_text
from kubenetlab.kube.dataplane_config import Fact
from kubenetlab.kube.schemas import field_name

SUFFIXES = {
    ".yaml", ".yml", ".json", ".txt", ".rules", ".nft", ".ipt", ".save", ".conf", ".v4", ".dump",
    ".out",
}  # fmt: skip
# What a kubenetlab lab spec has: a mapping of these keys only (spec.DEFAULTS).
LAB_SPEC_KEYS = {
    "name", "profile", "profile_options", "nodes", "pods_per_node", "underlay_cidr",
    "underlay_mtu", "pod_mtu", "pod_cidr", "node_cidr_mask", "service_cidr", "proxy",
    "services", "routes", "allow_mtu_mismatch",
}  # fmt: skip
NFT_TABLE = re.compile(r"^table (ip|ip6|inet|arp|bridge|netdev) \S+ \{", re.M)
IPTABLES_TABLE = re.compile(r"^\*(nat|filter|mangle|raw|security)\s*$", re.M)
IPTABLES_CHAIN = re.compile(r"^:[A-Z][\w-]* (ACCEPT|DROP|-) \[\d+:\d+\]\s*$", re.M)

# (what is being done, units done, units in all): reading counts characters, checking objects
OnProgress = Callable[[str, int, int], None]
PROGRESS_FROM = 1_000_000  # characters: smaller inputs are read before a bar would show

KINDS = {
    "kubernetes": "Kubernetes manifests",
    "helm-values": "Helm values",
    "helm-command": "helm command line",
    "iptables-save": "iptables-save output",
    "nft-ruleset": "nft list ruleset output",
    "nft-json": "nft -j list ruleset output",
    "cluster": "Kubernetes API",
    "lab-spec": "kubenetlab lab spec (nothing to audit: `kubenetlab lab up -f` builds it)",
}


@dataclass(frozen=True)
class ClusterInput:
    """A live cluster read as an input: where, what was read, what its ConfigMaps say."""

    server: str
    version: str
    objects: dict[str, int]  # kind -> count
    facts: list[Fact]
    notes: list[str]

    def describe(self) -> str:
        counts = ", ".join(f"{n} {kind}s" for kind, n in sorted(self.objects.items()))
        return f" {self.server}, {self.version}: {counts or 'no objects'}"

    def details(self) -> list[str]:
        """What its ConfigMaps say (each with where), then what was not there to read."""
        return [f"{f.name}: {f.value} ({f.source})" for f in self.facts] + self.notes

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "version": self.version, "objects": self.objects,
                "facts": [f.to_dict() for f in self.facts], "notes": self.notes}  # fmt: skip


@dataclass
class Source:
    path: str
    kind: str
    text: str = ""
    docs: list[Document] = field(default_factory=list)
    data: Any = None  # parsed JSON for nft-json; HelmCommand for helm-command; ClusterInput

    def describe(self) -> str:
        count = f", {len(self.docs)} documents" if self.kind == "kubernetes" else ""
        if isinstance(self.data, ClusterInput):
            count = self.data.describe()
        return f"{self.path}: {KINDS[self.kind]}{count}"


@dataclass
class InputError:
    path: str
    message: str


def expand(paths: list[str]) -> tuple[list[Path], list[InputError]]:
    """Files as named, and in directories every file with a known extension (any case),
    hidden files and directories below the one named left out, as linters do."""
    files: list[Path] = []
    errors: list[InputError] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            found, skipped = _walk(p)
            files += found
            if not found:
                what = f"{len(skipped)} files with other extensions" if skipped else "no files"
                errors.append(
                    InputError(
                        name,
                        f"nothing to audit here ({what}; audited: {', '.join(sorted(SUFFIXES))})",
                    )
                )
        elif p.is_file() or name == STDIN or p.exists():
            # a FIFO or device (`-f <(kubectl get …)`, /dev/stdin) is read once, bounded,
            # as `lab up -f` reads it
            files.append(p)
        else:
            errors.append(InputError(name, "no such file or directory"))
    return files, errors


def _walk(directory: Path) -> tuple[list[Path], list[Path]]:
    found, skipped = [], []
    for f in sorted(directory.rglob("*")):
        rel = f.relative_to(directory).parts
        if not f.is_file() or any(part.startswith(".") for part in rel):
            continue
        (found if f.suffix.lower() in SUFFIXES else skipped).append(f)
    return found, skipped


def detect(path: str, text: str, on_progress: OnProgress | None = None) -> Source:
    """Raise ValueError with the reason when the file is none of the known kinds."""
    stripped = text.lstrip()
    iptables = IPTABLES_TABLE.search(text) or IPTABLES_CHAIN.search(text)
    if iptables and NFT_TABLE.search(text):
        raise ValueError(
            "holds both an iptables-save dump and an nft ruleset: give them as two files "
            "(each is audited as what it is)"
        )
    if iptables:
        refused = restore_syntax.problems(text)
        if refused:
            line, problem = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ValueError(f"line {line}: {problem}{more}: iptables-restore would refuse it")
        return Source(path, "iptables-save", text=text)
    if NFT_TABLE.search(text):
        return Source(path, "nft-ruleset", text=text)
    tick = None
    if on_progress is not None and len(text) >= PROGRESS_FROM:
        tick = lambda done: on_progress(f"reading {path}", done, len(text))  # noqa: E731
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("invalid JSON: nested too deeply") from None
        except ValueError as exc:
            # Not one JSON value: maybe YAML documents written in flow style (`{…}\n---\n{…}`).
            try:
                docs = load_documents(text, tick)
            except (yaml.YAMLError, RecursionError):
                raise ValueError(f"invalid JSON: {exc}") from None
            return _yaml_source(path, text, docs)
        if isinstance(data, dict) and "nftables" in data:
            entries = data["nftables"]
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError('nft -j output: "nftables" must be a list of objects')
            if problem := _nft_json_problem(data):
                raise ValueError(f"nft -j output: {problem}")
            return Source(path, "nft-json", text=text, data=data)
    try:
        docs = load_documents(text, tick)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return _yaml_source(path, text, docs)


# The fields of `nft -j list ruleset` that audit reads, as libnftables writes them.
_NAMED = {"type": "object", "properties": {"name": {"type": "string"}, "table": {"type": "string"}}}
_NFT_JSON = Draft202012Validator(
    {
        "type": "object",
        "properties": {
            "nftables": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "table": _NAMED,
                        "chain": _NAMED,
                        "map": {
                            **_NAMED,
                            "properties": {**_NAMED["properties"], "elem": {"type": "array"}},
                        },
                        "set": {
                            **_NAMED,
                            "properties": {**_NAMED["properties"], "elem": {"type": "array"}},
                        },
                        "rule": {"type": "object", "properties": {"expr": {"type": "array"}}},
                    },
                },
            }
        },
    }
)


def _nft_json_problem(data: dict[str, Any]) -> str | None:
    """The first field audit reads whose type libnftables never writes, named by its path."""
    for error in _NFT_JSON.iter_errors(data):
        return f"{field_name(tuple(error.absolute_path))}: {error.message}"
    return None


def _yaml_source(path: str, text: str, docs: list[Document]) -> Source:
    if not docs:
        raise ValueError("empty: no YAML document, rule dump or ruleset")
    if any(isinstance(d.data, dict) and "apiVersion" in d.data and "kind" in d.data for d in docs):
        return Source(path, "kubernetes", text=text, docs=docs)
    if len(docs) == 1 and isinstance(docs[0].data, dict):
        keys = set(docs[0].data)
        if keys and keys <= LAB_SPEC_KEYS and keys & {"nodes", "profile", "pods_per_node"}:
            return Source(path, "lab-spec", text=text, docs=docs)
        return Source(path, "helm-values", text=text, docs=docs)
    raise ValueError("not a Kubernetes manifest, Helm values, iptables-save or nft ruleset")


def read(
    paths: list[str], on_progress: OnProgress | None = None
) -> tuple[list[Source], list[InputError]]:
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
            sources.append(detect(str(f), text, on_progress))
        except ValueError as exc:
            errors.append(InputError(str(f), str(exc)))
    return sources, errors
