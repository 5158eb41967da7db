"""The result documents `kubenetlab report` reads: each file's kind, from its `kind` field
or (for files written before it had one) from its shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubenetlab.claims import PRODUCERS, Evidence
from kubenetlab.errors import UsageError
from kubenetlab.inputs import read_text

CLUSTER_COMPARE = "cluster-compare"  # compare --kubeconfig: a live cluster's, not a lab's
SHAPES = (  # (kind, keys a document of that kind has at the top level)
    ("compare", ("baseline", "rows", "driver_check")),
    ("trace", ("directions", "probes")),
    ("canary", ("backends", "rule")),
    ("etcd-disk", ("fdatasync_us", "verdicts")),
    ("host-check", ("checks", "summary")),
    ("audit", ("findings", "counts")),
)
SETTINGS_SHAPES = (  # scenarios: told apart by their settings
    ("mtu", "cases"),
    ("convergence", "placements"),
    ("service-scale", "sizes"),
    ("etp", "policies"),
    ("churn", "min_sync_periods"),
)


def kind_of(doc: dict[str, Any]) -> str | None:
    if doc.get("kind") in PRODUCERS:
        return doc["kind"]
    for kind, keys in SHAPES:
        if all(k in doc for k in keys):
            return kind
    settings = doc.get("settings")
    if isinstance(settings, dict):
        for kind, key in SETTINGS_SHAPES:
            if key in settings:
                return kind
    return None


def load(paths: list[str]) -> tuple[Evidence, list[dict[str, str]]]:
    """Every file read and recognised, or exit 2 naming the one that is not."""
    docs: dict[str, dict[str, Any]] = {}
    sources = []
    for path in paths:
        text = read_text(path)
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise UsageError(f"{path}: not JSON ({str(exc).splitlines()[0][:80]})") from None
        for kind, part in _parts(doc, path):
            if kind in docs:
                sources = [s for s in sources if s["kind"] != kind]  # the last of a kind wins
            docs[kind] = part
            sources.append({"path": str(Path(path)), "kind": kind})
    if CLUSTER_COMPARE in docs and "compare" not in docs:
        docs["compare"] = docs[CLUSTER_COMPARE]  # the only compare: the claims judge it
    return Evidence(docs), sources


def _parts(doc: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """A result's kind and itself; an assessment's (`kubenetlab assess`) the compare and
    service-scale results it holds."""
    if isinstance(doc, dict) and doc.get("kind") == "assess":
        held = [(k, doc.get(key)) for k, key in (("compare", "compare"),
                                                  ("service-scale", "service_scale"))]  # fmt: skip
        parts = [(k, d) for k, d in held if isinstance(d, dict)]
        if not parts:
            raise UsageError(f"{path}: an assessment made with --plan holds no measurement")
        return parts
    kind = kind_of(doc) if isinstance(doc, dict) else None
    if kind == "compare" and isinstance(doc.get("cluster"), dict):
        kind = CLUSTER_COMPARE  # beside a lab compare, not in its place
    if kind is None:
        raise UsageError(
            f"{path}: not a kubenetlab result (expected the JSON of one of: "
            f"{', '.join(sorted(PRODUCERS))}, assess)"
        )
    return [(kind, doc)]
