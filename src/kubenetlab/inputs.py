"""Reading what users hand in: files (or `-` for standard input), YAML, comma-separated
lists. The one place input is read, so the one place it is bounded: size, YAML depth and
aliases (billion laughs fails fast), duplicate keys, UTF-8. Every failure is a one-line
UsageError naming the file (and the line, where there is one): exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from kubenetlab.errors import UsageError

MAX_BYTES = 64 * 1024 * 1024  # an iptables-save of 10,000 Services × 3 endpoints is ~15 MB
MAX_DEPTH = 64  # Kubernetes objects nest about 10 deep
MAX_ALIASES = 1000  # YAML aliases per file: a real manifest has a handful
MAX_NODES = 2_000_000  # YAML nodes that aliases stand for, per document (billion laughs)
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
# a 4,000-Service List took 20 s); its events are built into values below, bounded.
try:
    from yaml.cyaml import CParser as _Events
except ImportError:  # PyYAML without libyaml

    class _Events(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


KeyPath = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"
_CONTAINER_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Frame:
    """A mapping or sequence being filled, with its key path and the pending key."""

    __slots__ = ("anchor", "key", "merges", "path", "start", "typed_keys", "value")

    def __init__(self, value: Any, path: KeyPath, anchor: str | None, start: int) -> None:
        self.value = value
        self.path = path
        self.key: Any = _NO_KEY
        self.merges: list[Any] = []
        self.anchor = anchor
        self.start = start
        self.typed_keys: set[str] | None = None  # how non-string keys (1, true) were written


_NO_KEY = object()


class Document:
    """One YAML document: its data, first line (1-based) and, when asked, every key's line.
    An item of a `kind: List` shares the List's key lines, found under its `prefix`."""

    __slots__ = ("data", "line", "lines", "prefix")

    def __init__(
        self, data: Any, line: int, lines: dict[KeyPath, int] | None = None, prefix: KeyPath = ()
    ) -> None:
        self.data = data
        self.line = line
        self.lines = lines if lines is not None else {}
        self.prefix = prefix

    def line_of(self, *path: str | int) -> int:
        """The line of the deepest known prefix of `path` (the document start at worst)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get((*self.prefix, *path[:end]))
            if line is not None:
                return line
        return self.line


def unwrap_list(document: Document) -> list[Document]:
    """A `kind: List` (what `kubectl get … -o yaml` prints) as its items, each with its own
    key lines; any other document as itself. The one place List is unwrapped. The items
    share the List's line map (a copy per item doubled the memory of a large List)."""
    data = document.data
    if not (isinstance(data, dict) and data.get("kind") == "List"):
        return [document]
    items = data.get("items")
    if not isinstance(items, list):
        return [document]
    return [
        Document(
            item,
            document.lines.get((*document.prefix, "items", i), document.line),
            document.lines,
            (*document.prefix, "items", i),
        )
        for i, item in enumerate(items)
        if item is not None
    ]


Progress = Callable[[int], None]  # characters of the text read so far
PROGRESS_EVERY = 20_000  # parser events between two progress calls


def documents(
    text: str, with_lines: bool = False, on_progress: Progress | None = None
) -> Iterator[Document]:
    """Every document of `text`, built straight from libyaml's parser events (no node tree:
    a node tree took ~80 bytes of memory per input byte), bounded as it is read: nesting
    depth, alias count, alias expansion (billion laughs fails fast) and duplicate keys.
    Raises yaml.YAMLError with the line of the problem."""
    events = _Events(text)
    resolver, constructor = Resolver(), SafeConstructor()
    try:
        yield from _build_documents(events, resolver, constructor, with_lines, on_progress)
    finally:
        events.dispose()


def load_documents(text: str, on_progress: Progress | None = None) -> list[Document]:
    """Every non-empty document of a (multi-document) YAML text with the line of every key
    (so findings and errors point at file:line), a `kind: List` unwrapped into its items.
    Raises yaml.YAMLError."""
    return [
        item
        for document in documents(text, with_lines=True, on_progress=on_progress)
        for item in unwrap_list(document)
    ]


def _refuse(problem: str, event: Any) -> yaml.YAMLError:
    return yaml.composer.ComposerError(None, None, problem, event.start_mark)


def _build_documents(
    events: Any,
    resolver: Resolver,
    constructor: SafeConstructor,
    with_lines: bool,
    on_progress: Progress | None = None,
) -> Iterator[Document]:
    stack: list[_Frame] = []
    anchors: dict[str, Any] = {}
    sizes: dict[str, int] = {}  # anchor → nodes it stands for, aliases expanded
    lines: dict[KeyPath, int] = {}
    root: Any = _NO_KEY
    first_line = 0
    nodes = aliases = expanded = 0
    seen = 0  # events, for progress

    def place(value: Any, event: Any) -> KeyPath:
        """Put a finished value (or a container just opened) where it belongs; its path."""
        nonlocal root, first_line
        if not stack:
            root, first_line = value, event.start_mark.line + 1
            return ()
        frame = stack[-1]
        if isinstance(frame.value, list):
            path = (*frame.path, len(frame.value))
            frame.value.append(value)
            if with_lines:
                lines[path] = event.start_mark.line + 1
            return path
        if frame.key is _NO_KEY:
            raise _refuse("a mapping or a list used as a key", event)
        key, frame.key = frame.key, _NO_KEY
        if key is MERGE_TAG:
            frame.merges.append(value)
            return frame.path
        frame.value[key] = value
        return (*frame.path, key)

    while True:
        event = events.get_event()
        kind = type(event)
        seen += 1
        if on_progress is not None and seen % PROGRESS_EVERY == 0:
            on_progress(event.start_mark.index)
        if kind is yaml.StreamEndEvent:
            return
        if kind is yaml.DocumentStartEvent:
            anchors, sizes, lines, root = {}, {}, {}, _NO_KEY
            nodes = aliases = expanded = 0
            continue
        if kind is yaml.DocumentEndEvent:
            if root is not _NO_KEY:
                yield Document(root, first_line, lines)
            continue
        if kind is yaml.StreamStartEvent:
            continue
        if kind is yaml.AliasEvent:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _refuse(f"more than {MAX_ALIASES} YAML aliases", event)
            if event.anchor not in anchors:
                raise _refuse(f"found undefined alias {event.anchor!r}", event)
            if event.anchor not in sizes:
                raise _refuse("an alias refers to the node that contains it", event)
            nodes += sizes[event.anchor]
            expanded += sizes[event.anchor]
            if expanded > MAX_NODES:
                raise _refuse(
                    f"aliases expand to more than {MAX_NODES:,} nodes (an alias bomb)", event
                )
            value = anchors[event.anchor]
            if stack and isinstance(stack[-1].value, dict) and stack[-1].key is _NO_KEY:
                _set_key(
                    stack[-1],
                    value if not isinstance(value, list | dict) else str(value),
                    event,
                    with_lines,
                    lines,
                )
            else:
                place(value, event)
            continue
        nodes += 1
        if kind is yaml.ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolver.resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if stack and isinstance(stack[-1].value, dict) and stack[-1].key is _NO_KEY:
                if tag == MERGE_TAG:
                    stack[-1].key = MERGE_TAG
                    continue
                key = _scalar(constructor, node)
                _set_key(stack[-1], key, event, with_lines, lines, event.value)
                if event.anchor is not None:
                    anchors[event.anchor], sizes[event.anchor] = key, 1
                continue
            value = _scalar(constructor, node)
            place(value, event)
            if event.anchor is not None:
                anchors[event.anchor], sizes[event.anchor] = value, 1
            continue
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.tag not in _CONTAINER_TAGS:
                raise _refuse(f"the tag {event.tag} is not supported here", event)
            if len(stack) >= MAX_DEPTH:
                raise _refuse(f"exceeded the maximum nesting depth ({MAX_DEPTH} levels)", event)
            container: Any = {} if kind is yaml.MappingStartEvent else []
            path = place(container, event)
            stack.append(_Frame(container, path, event.anchor, nodes))
            if event.anchor is not None:
                anchors[event.anchor] = container
            continue
        # MappingEndEvent / SequenceEndEvent
        frame = stack.pop()
        if frame.merges:
            _merge(frame, event)
        if frame.anchor is not None:
            sizes[frame.anchor] = nodes - frame.start + 1


def _scalar(constructor: SafeConstructor, node: ScalarNode) -> Any:
    # The tag's constructor called directly: construct_object would keep every node in
    # its cache for the whole document.
    build = (
        SafeConstructor.yaml_constructors.get(node.tag) or SafeConstructor.yaml_constructors[None]
    )
    return build(constructor, node)


def _set_key(
    frame: _Frame,
    key: Any,
    event: Any,
    with_lines: bool,
    lines: dict[KeyPath, int],
    written: str | None = None,
) -> None:
    if isinstance(key, list | dict | set):
        key = str(key)
    # Duplicates as written: `1:` and `'1':` are one key once Kubernetes reads it as JSON.
    typed = frame.typed_keys or ()
    if isinstance(key, str):
        clash = key in frame.value or key in typed
    else:
        clash = key in frame.value or (
            written is not None and (written in frame.value or written in typed)
        )
        if written is not None:
            frame.typed_keys = {*typed, written}
    if clash:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"duplicate key {written if written is not None else key!r}",
            event.start_mark,
        )
    frame.key = key
    if with_lines:
        lines[(*frame.path, key)] = event.start_mark.line + 1


def _merge(frame: _Frame, event: Any) -> None:
    """YAML merge keys (`<<: *base`): keys written in the mapping win over merged ones."""
    merged: dict[Any, Any] = {}
    for value in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise _refuse("a merge key (<<) needs a mapping or a list of mappings", event)
            for k, v in source.items():
                merged.setdefault(k, v)
    written = dict(frame.value)  # merged keys first, as PyYAML orders them
    frame.value.clear()
    frame.value.update(merged)
    frame.value.update(written)


def yaml_documents(text: str) -> list[Any]:
    """Python objects of every non-empty document (raises yaml.YAMLError)."""
    return [d.data for d in documents(text) if d.data is not None]


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
    return [d.data for doc in docs for d in unwrap_list(Document(doc, 0))]


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
