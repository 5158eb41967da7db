"""The Kubernetes objects kubenetlab reads, checked against their types before any
renderer or audit rule touches them: the fields it uses, as the API server defines them
(core/v1 Service, discovery/v1 EndpointSlice, gateway.networking.k8s.io/v1 HTTPRoute and
Gateway, apps/v1 workloads). JSON Schema, checked with `jsonschema`.

`problems(doc)` → [(path, message)]: empty when the object can be used.
"""

from __future__ import annotations

from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
# Any port: the range is the API server's --service-node-port-range, not kube-proxy's business;
# what a cluster admitted, the renderer accepts (kube-proxy's own test vectors use 3001).
NODE_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
PROTOCOL = {"enum": ["TCP", "UDP", "SCTP"]}
NAME = {"type": "string", "minLength": 1, "maxLength": 253}
STRINGS = {"type": "array", "items": {"type": "string"}}
LABELS = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
IPV4 = {"type": "string", "format": "ipv4"}
# IPv6 is valid Kubernetes: read, then reported as unsupported (services.read_kubernetes)
IP = {"anyOf": [IPV4, {"type": "string", "format": "ipv6"}], "x-expect": "an IP address"}
METADATA = {
    "type": "object",
    "properties": {"name": NAME, "namespace": NAME, "labels": LABELS},
}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


SERVICE = _obj(
    {
        "metadata": METADATA,
        "spec": _obj(
            {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]},
                "clusterIP": {
                    "anyOf": [IP, {"enum": ["None", ""]}],
                    "x-expect": "an IP address (or None for a headless Service)",
                },
                "clusterIPs": {"type": "array", "items": {"type": "string"}},
                "externalIPs": {"type": "array", "items": IP},
                "loadBalancerSourceRanges": STRINGS,
                "sessionAffinity": {"enum": ["None", "ClientIP"]},
                "sessionAffinityConfig": _obj(
                    {
                        "clientIP": _obj(
                            {"timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 86400}}
                        )
                    }
                ),
                "ports": {
                    "type": "array",
                    "items": _obj(
                        {
                            "name": {"type": "string"},
                            "port": PORT,
                            "targetPort": {
                                "anyOf": [PORT, {"type": "string", "minLength": 1}],
                                "x-expect": "a port number 1-65535 or a port name",
                            },
                            "nodePort": NODE_PORT,
                            "protocol": PROTOCOL,
                        },
                        ("port",),
                    ),
                },
                "selector": LABELS,
                "externalTrafficPolicy": {"enum": ["Cluster", "Local"]},
                "internalTrafficPolicy": {"enum": ["Cluster", "Local"]},
                "healthCheckNodePort": NODE_PORT,
            }
        ),
        "status": _obj(
            {"loadBalancer": _obj({"ingress": {"type": "array", "items": _obj({"ip": IP})}})}
        ),
    }
)
ENDPOINT_SLICE = _obj(
    {
        "metadata": METADATA,
        "addressType": {"enum": ["IPv4", "IPv6", "FQDN"]},
        "endpoints": {
            "type": ["array", "null"],
            "items": _obj(
                {
                    "addresses": {"type": "array", "items": IP, "minItems": 1},
                    "conditions": _obj({"ready": {"type": ["boolean", "null"]}}),
                    "nodeName": {"type": "string"},
                },
                ("addresses",),
            ),
        },
        "ports": {
            "type": ["array", "null"],
            "items": _obj({"name": {"type": "string"}, "port": PORT, "protocol": PROTOCOL}),
        },
    }
)
BACKEND_REF = _obj(
    {
        "name": NAME,
        "namespace": NAME,
        "port": PORT,
        "weight": {"type": "integer"},  # its range is audit rule KNL-GW-007
        "kind": {"type": "string"},
        "group": {"type": "string"},
    },
    ("name",),
)
MATCH = _obj(
    {
        "path": _obj({"type": {"type": "string"}, "value": {"type": "string"}}),
        "method": {"type": "string"},
        "headers": {"type": "array", "items": {"type": "object"}},
        "queryParams": {"type": "array", "items": {"type": "object"}},
    }
)
HTTP_ROUTE = _obj(
    {
        "metadata": METADATA,
        "spec": _obj(
            {
                "parentRefs": {"type": "array", "items": {"type": "object"}},
                "hostnames": STRINGS,
                "rules": {
                    "type": "array",
                    "items": _obj(
                        {
                            "matches": {"type": "array", "items": MATCH},
                            "backendRefs": {"type": "array", "items": BACKEND_REF},
                            "filters": {"type": "array", "items": {"type": "object"}},
                        }
                    ),
                },
            }
        ),
    }
)
GATEWAY = _obj(
    {
        "metadata": METADATA,
        "spec": _obj({"listeners": {"type": "array", "items": _obj({"name": NAME, "port": PORT})}}),
    }
)
TERM = _obj({"topologyKey": {"type": "string"}})
TERMS = {"type": "array", "items": TERM}
POD_SPEC = _obj(
    {
        "topologySpreadConstraints": TERMS,
        "affinity": _obj(
            {
                "podAntiAffinity": _obj(
                    {
                        "requiredDuringSchedulingIgnoredDuringExecution": TERMS,
                        "preferredDuringSchedulingIgnoredDuringExecution": {
                            "type": "array",
                            "items": _obj({"podAffinityTerm": TERM}),
                        },
                    }
                )
            }
        ),
    }
)
WORKLOAD = _obj(
    {
        "metadata": METADATA,
        "spec": _obj(
            {
                "replicas": {"type": "integer", "minimum": 0},
                "selector": {"type": "object"},
                "template": _obj({"metadata": METADATA, "spec": POD_SPEC}),
            }
        ),
    }
)
LIST = _obj({"items": {"type": "array"}}, ("items",))
SCHEMAS = {
    "List": LIST,
    "Service": SERVICE,
    "EndpointSlice": ENDPOINT_SLICE,
    "HTTPRoute": HTTP_ROUTE,
    "Gateway": GATEWAY,
    **{kind: WORKLOAD for kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")},
}
BASE = _obj({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": METADATA})
_BASE = Draft202012Validator(BASE, format_checker=FormatChecker())
_VALIDATORS = {
    kind: Draft202012Validator(schema, format_checker=FormatChecker())
    for kind, schema in SCHEMAS.items()
}
# The same schemas compiled to Python code: ~15x faster on the common case (a valid
# object), so a 10,000-Service dump is not dominated by validation. jsonschema still
# explains what is wrong; both use the same IP address checks.
_CHECKER = FormatChecker()
_FORMATS = {"ipv4": lambda v: _CHECKER.conforms(v, "ipv4"),
            "ipv6": lambda v: _CHECKER.conforms(v, "ipv6")}  # fmt: skip
_FAST = {
    kind: fastjsonschema.compile(
        {"$schema": "http://json-schema.org/draft-07/schema#", **schema}, formats=_FORMATS
    )
    for kind, schema in {"": BASE, **SCHEMAS}.items()
}


def _valid(kind: str, doc: Any) -> bool:
    try:
        _FAST[kind](doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


Path = tuple[str | int, ...]


def problems(doc: Any) -> list[tuple[Path, str]]:
    """What makes `doc` unusable: (path of the field, message); [] when it is fine."""
    if not isinstance(doc, dict):
        return [((), f"a Kubernetes object is a mapping, not {type(doc).__name__}")]
    kind = doc.get("kind", "")
    if _valid("", doc) and (kind not in _FAST or _valid(kind, doc)):
        return []
    found = list(_BASE.iter_errors(doc))
    validator = _VALIDATORS.get(doc.get("kind", "")) if not found else None
    if validator is not None:
        found = list(validator.iter_errors(doc))
    found.sort(key=lambda e: list(map(str, e.absolute_path)))
    return [(tuple(e.absolute_path), describe(e.absolute_path, _message(e))) for e in found[:1]]


def _message(error: Any) -> str:
    expect = error.schema.get("x-expect") if isinstance(error.schema, dict) else None
    if expect:
        return f"{error.instance!r} is not {expect}"
    if error.validator == "format":
        return f"{error.instance!r} is not an IPv4 address"
    return str(error.message)


def field_name(path: Any) -> str:
    """spec.ports[0].port, as kubectl names fields."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(path: Any, message: str) -> str:
    where = field_name(path)
    return f"{where}: {message}" if where else message
