"""Validators for the result schemas users are given (src/kubenetlab/schemas), with the
bench result schema that compare's rows refer to resolvable by its $id."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "kubenetlab" / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def validator(name: str) -> jsonschema.Draft202012Validator:
    bench = schema("bench-result.schema.json")
    registry = Registry().with_resource(bench["$id"], Resource.from_contents(bench))
    return jsonschema.Draft202012Validator(schema(name), registry=registry)
