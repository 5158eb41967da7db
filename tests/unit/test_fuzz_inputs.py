"""A seeded mutation loop over the shipped examples and the audit corpus: keys deleted,
values retyped (scalars swapped for lists, maps, huge numbers, nothing), documents
truncated. Every mutant must end in a clear error (KnlError: exit 2 or 3) or a result,
never an unexpected exception. In-process, so 2,000+ cases take seconds."""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Any

import yaml

from kubenetlab.audit.run import AuditOptions, audit
from kubenetlab.errors import KnlError
from kubenetlab.gateway import nginx
from kubenetlab.gateway.model import parse
from kubenetlab.inputs import unwrap_lists, yaml_documents
from kubenetlab.kube.objects import parse_all
from kubenetlab.kube.schemas import problems
from kubenetlab.proxy import PROXIES, NodeContext
from kubenetlab.services import from_kubernetes
from kubenetlab.spec import build_lab

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["examples/two-node.yaml", "examples/three-node.yaml", "examples/services.yaml"]
MANIFESTS = [
    "examples/cluster-dump.yaml",
    "tests/fixtures/k8s/services-with-slices.yaml",
    *(
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "tests/fixtures/audit").rglob("*.yaml"))
        if p.parent.name != "bad"  # broken on purpose: the mutants start from valid files
    ),
]
REPLACEMENTS: list[Any] = [
    None, 0, -1, 10**30, "", "x" * 300, "10.0.0.1", [], [1, 2], {}, {"a": 1}, True, 1.5, "nine",
]  # fmt: skip


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def mutate(data: Any, rng: random.Random) -> Any:
    """One to three random edits: delete a key or item, or replace a value."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(data) if p]
        if not paths:
            return rng.choice(REPLACEMENTS)
        path = rng.choice(paths)
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return data


def _load(name: str) -> list[Any]:
    return unwrap_lists(yaml_documents((ROOT / name).read_text()))


def _spec_case(rng: random.Random) -> None:
    raw = _load(rng.choice(SPECS))[0]
    mutant = mutate(raw, rng)
    if isinstance(mutant, dict):
        mutant.pop("routes", None)  # a file name relative to the example
        build_lab(mutant)
    else:
        build_lab({"nodes": mutant})


def _render_case(rng: random.Random) -> None:
    docs = [mutate(d, rng) if rng.random() < 0.5 else d for d in _load(rng.choice(MANIFESTS))]
    usable = [d for d in docs if isinstance(d, dict) and not problems(d)]
    services = from_kubernetes(parse_all(usable))
    ctx = NodeContext("worker-1", "", ("198.18.0.1",), "10.244.0.0/16", "10.96.0.0/12")
    for proxy in PROXIES.values():
        proxy.render_services(services, ctx)


ROUTES = [
    "examples/gateway/article-httproute.yaml",
    "examples/gateway/missing-backend.yaml",
    "tests/fixtures/audit/gateway/weights-70-30-0.yaml",
]


def _routes_case(rng: random.Random) -> None:
    docs = [mutate(d, rng) if rng.random() < 0.7 else d for d in _load(rng.choice(ROUTES))]
    config = parse(docs, "mutant")
    nginx.check(config)


def _audit_case(rng: random.Random, tmp: Path) -> None:
    docs = _load(rng.choice(MANIFESTS))
    text = yaml.safe_dump_all([mutate(d, rng) for d in docs])
    if rng.random() < 0.2:
        text = text[: rng.randint(0, len(text))]  # truncated
    path = tmp / f"mutant{rng.randint(0, 9)}.yaml"
    path.write_text(text)
    report = audit(AuditOptions([str(path)]))
    analysed = [e for e in report.errors if "could not be analysed" in e.message]
    assert not analysed, analysed  # validation must catch it first, with file:line


def test_2000_mutants_of_examples_and_corpus_never_traceback(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    started, outcomes = time.monotonic(), {"ok": 0, "refused": 0}
    for i in range(2400):
        kind = i % 4
        try:
            if kind == 0:
                _spec_case(rng)
            elif kind == 1:
                _render_case(rng)
            elif kind == 2:
                _routes_case(rng)
            else:
                _audit_case(rng, tmp_path)
            outcomes["ok"] += 1
        except KnlError as exc:
            assert "\n" not in exc.message, exc.message
            outcomes["refused"] += 1
    seconds = time.monotonic() - started
    assert seconds < 60, f"{seconds:.0f} s"
    assert outcomes["ok"] > 100 and outcomes["refused"] > 100, outcomes  # both paths exercised


def test_the_compiled_validator_agrees_with_jsonschema_on_mutants() -> None:
    """kube.schemas checks objects with fastjsonschema first (the fast path) and asks
    jsonschema only to explain a failure: the two must never disagree on valid vs invalid."""
    from kubenetlab.kube import schemas

    def explained(doc: dict[str, Any]) -> bool:
        found = list(schemas._BASE.iter_errors(doc))
        validator = schemas._VALIDATORS.get(doc.get("kind", "")) if not found else None
        return not found and (validator is None or not list(validator.iter_errors(doc)))

    rng = random.Random(7)
    values = [*REPLACEMENTS, "010.0.0.1", "300.1.1.1", "::1", "fe80::1%eth0", 70000, 65535]
    checked = disagree = 0
    for name in MANIFESTS:
        for doc in unwrap_lists(yaml_documents((ROOT / name).read_text())):
            if not isinstance(doc, dict):
                continue
            for path in list(_paths(doc))[1:]:
                mutant = copy.deepcopy(doc)
                node: Any = mutant
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = rng.choice(values)
                checked += 1
                kind = mutant.get("kind", "")
                fast = schemas._valid("", mutant) and (
                    kind not in schemas._FAST or schemas._valid(kind, mutant)
                )
                if fast != explained(mutant):
                    disagree += 1
    assert checked > 500 and disagree == 0, f"{disagree} of {checked} mutants"


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> Any:
    yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*path, i))
