"""Reading what users hand in: files (or `-` for standard input), YAML, comma-separated
lists. The one place input is read, so the one place it is bounded: size, YAML depth and
aliases (billion laughs fails fast), duplicate keys, UTF-8. Every failure is a one-line
UsageError naming the file (and the line, where there is one): exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from kubenetlab.errors import UsageError

MAX_BYTES = 64 * 1024 * 1024  # an iptables-save of 10,000 Services × 3 endpoints is ~15 MB
MAX_DEPTH = 64  # Kubernetes objects nest about 10 deep
MAX_ALIASES = 1000  # YAML aliases per file: a real manifest has a handful
MAX_NODES = 2_000_000  # YAML nodes with aliases expanded: a 10,000-Service List is ~500,000
STDIN = "-"


def read_text(path: str | Path, limit: int = MAX_BYTES) -> str:
    """The file's text, at most `limit` bytes, which must be UTF-8; `-` is standard input."""
    try:
        if str(path) == STDIN:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise UsageError(f"{path}: larger than {limit // (1024 * 1024)} MiB, the input limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text") from None


# libyaml's parser where PyYAML was built with it (10x the pure-Python scanner's speed:
# a 4,000-Service List took 20 s), composed in Python so the bounds below apply.
try:
    from yaml.cyaml import CParser as _Events
except ImportError:  # PyYAML without libyaml

    class _Events(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class BoundedLoader(Composer, _Events, SafeConstructor, Resolver):  # type: ignore[misc]
    """PyYAML's safe loader, refusing deep nesting, alias floods and duplicate keys while
    it composes, before any Python object is built."""

    def __init__(self, stream: str) -> None:
        _Events.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}  # id(node) → its size with aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        alias = self.check_event(yaml.AliasEvent)
        if alias:
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise self._refuse(f"more than {MAX_ALIASES} YAML aliases")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(f"exceeded the maximum nesting depth ({MAX_DEPTH} levels)")
        try:
            node = Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1
        if alias and id(node) not in self._sizes:
            raise self._refuse("an alias refers to the node that contains it")
        if not alias:
            self._sizes[id(node)] = self._size(node)
        if self._sizes[id(node)] > MAX_NODES:
            raise self._refuse(f"aliases expand to more than {MAX_NODES:,} nodes (an alias bomb)")
        return node

    def _size(self, node: Node) -> int:
        if isinstance(node, MappingNode):
            return 1 + sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        if isinstance(node, SequenceNode):
            return 1 + sum(self._sizes.get(id(c), 1) for c in node.value)
        return 1

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:  # type: ignore[override]
        node = Composer.compose_mapping_node(self, anchor)
        seen: dict[str, int] = {}
        for key, _ in node.value:
            if isinstance(key, ScalarNode):
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r}", key.start_mark
                    )
                seen[key.value] = key.start_mark.line
        return node

    def _refuse(self, problem: str) -> yaml.YAMLError:
        return yaml.composer.ComposerError(None, None, problem, self.peek_event().start_mark)


def compose_all(text: str) -> list[Node]:
    """The node tree of every document (raises yaml.YAMLError, bounded as above)."""
    loader = BoundedLoader(text)
    try:
        nodes = []
        while loader.check_node():
            nodes.append(loader.get_node())
        return nodes
    finally:
        loader.dispose()


def yaml_documents(text: str) -> list[Any]:
    """Python objects of every non-empty document (raises yaml.YAMLError)."""
    loader = BoundedLoader(text)
    try:
        docs = []
        while loader.check_node():
            docs.append(loader.construct_document(loader.get_node()))
        return [d for d in docs if d is not None]
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """One YAML document (a lab spec, Helm values); None for an empty file."""
    text = read_text(path)
    try:
        docs = yaml_documents(text)
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    if len(docs) > 1:
        raise UsageError(f"{path}: {len(docs)} YAML documents; this input is one document")
    return docs[0] if docs else None


def load_yaml_documents(path: str | Path) -> list[Any]:
    """Every document of a multi-document YAML file (Kubernetes manifests), with `kind:
    List` (what `kubectl get … -o yaml` prints) unwrapped into its items."""
    text = read_text(path)
    try:
        return unwrap_lists(yaml_documents(text))
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


def unwrap_lists(docs: list[Any]) -> list[Any]:
    out: list[Any] = []
    for doc in docs:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "List"
            and isinstance(doc.get("items"), list)
        ):
            out += [item for item in doc["items"] if item is not None]
        else:
            out.append(doc)
    return out


def yaml_error(path: str | Path, exc: yaml.YAMLError) -> UsageError:
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "not valid YAML"
    return UsageError(f"{path}{where}: invalid YAML: {problem}")


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
