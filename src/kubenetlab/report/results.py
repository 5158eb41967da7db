"""The result documents `kubenetlab report` reads: each file's kind, from its `kind` field
or (for files written before it had one) from its shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubenetlab.claims import PRODUCERS, Evidence
from kubenetlab.errors import UsageError
from kubenetlab.inputs import read_text

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
        kind = kind_of(doc) if isinstance(doc, dict) else None
        if kind is None:
            raise UsageError(
                f"{path}: not a kubenetlab result (expected the JSON of one of: "
                f"{', '.join(sorted(PRODUCERS))})"
            )
        if kind in docs:
            sources = [s for s in sources if s["kind"] != kind]  # the last of a kind wins
        docs[kind] = doc
        sources.append({"path": str(Path(path)), "kind": kind})
    return Evidence(docs), sources
