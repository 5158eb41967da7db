"""Kubernetes objects, the one way they come in: typed (`objects`), checked against their
types as the API server defines them (`schemas`), read from files or taken from an API
server or etcd as dicts (`load`), with their defaults applied once and where each came
from (file:line of every field, for findings and errors).

Proxy renderers, the audit and the lab's agents consume these types; nothing below
reads the raw dicts of Services or EndpointSlices.
"""
