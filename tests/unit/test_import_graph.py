"""The package's parts import each other in one direction only: no circle between
top-level packages and modules of kubenetlab (function-local imports included — they
hid six circles once), and results never import how they are shown."""

from __future__ import annotations

import ast
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import kubenetlab

ROOT = Path(kubenetlab.__file__).parent


def _part(module: str) -> str | None:
    """kubenetlab.scenarios.compare → scenarios; kubenetlab alone → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "kubenetlab" else None


def _imports() -> dict[str, dict[str, list[str]]]:
    """part → part it imports → where (file:line), every import statement in the tree."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(("kubenetlab", *path.relative_to(ROOT).with_suffix("").parts))
        src = _part(module.removesuffix(".__init__"))
        if src is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
                targets = names if node.module == "kubenetlab" else [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                dst = _part(target)
                if dst is not None and dst != src:
                    graph[src][dst].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return graph


def test_no_circle_between_the_packages_parts() -> None:
    graph = _imports()
    try:
        TopologicalSorter({src: set(dsts) for src, dsts in graph.items()}).prepare()
    except CycleError as exc:
        circle = exc.args[1]
        where = [f"{a} → {b} ({graph[b][a][0]})" for a, b in zip(circle[1:], circle, strict=False)]
        raise AssertionError("import circle: " + "; ".join(where)) from None


def test_the_graph_is_read_from_the_code() -> None:
    """The reader sees imports (so the test above can fail): the CLI imports scenarios,
    scenarios import bench, report imports scenarios' result types."""
    graph = _imports()
    assert "scenarios" in graph["cli"] and "bench" in graph["scenarios"]
    assert "scenarios" in graph["report"]


def test_results_never_import_how_they_are_shown() -> None:
    graph = _imports()
    for lower in ("scenarios", "bench", "lab", "live", "proxy", "kernel", "audit", "claims"):
        shown = {p: graph[lower][p] for p in ("report", "cli") if p in graph[lower]}
        assert not shown, f"{lower} imports {shown}"
