"""YAML documents with the line of every key, so findings can point at file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubenetlab.inputs import documents

Path = tuple[str | int, ...]


@dataclass
class Doc:
    data: Any
    line: int  # first line of the document, 1-based
    lines: dict[Path, int] = field(default_factory=dict)  # key path → 1-based line

    def line_of(self, *path: str | int) -> int:
        """The line of the deepest known prefix of `path` (the document start at worst)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return self.line


def load_documents(text: str) -> list[Doc]:
    """Every non-empty document of a (multi-document) YAML text, a `kind: List` (what
    `kubectl get … -o yaml` prints) unwrapped into its items. Raises yaml.YAMLError."""
    docs = []
    for document in documents(text, with_lines=True):
        docs += _unwrap(Doc(document.data, document.line, document.lines))
    return docs


def _unwrap(doc: Doc) -> list[Doc]:
    data = doc.data
    if not (isinstance(data, dict) and data.get("kind") == "List"):
        return [doc]
    items = data.get("items")
    if not isinstance(items, list):
        return [doc]
    # one pass over the key lines, grouped by item (a scan per item was quadratic)
    per_item: dict[int, dict[Path, int]] = {}
    for p, n in doc.lines.items():
        if len(p) > 2 and p[0] == "items" and isinstance(p[1], int):
            per_item.setdefault(p[1], {})[p[2:]] = n
    return [
        Doc(item, doc.lines.get(("items", i), doc.line), per_item.get(i, {}))
        for i, item in enumerate(items)
        if item is not None
    ]
