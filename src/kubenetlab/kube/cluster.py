"""A Kubernetes cluster reached through a kubeconfig: what `audit` and `proxy render` read
from it (read-only verbs) and the one HTTP path cluster mode uses, with reachability and
permissions checked before anything is read or made (SelfSubjectAccessReview, as `kubectl
auth can-i` asks), so a missing verb is one exit-3 message naming every missing one and the
command that grants them.

Objects come back as the dicts the API serves (camelCase, `kind`/`apiVersion` filled in
as `kubectl get -o yaml` fills them) with `cluster://<context>/<Kind>/<ns>/<name>` as the
place findings name. Lists are read in chunks of 500, as kubectl reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubenetlab.errors import EnvironmentProblem, UsageError
from kubenetlab.kube.objects import KubeObject, Location, parse

CHUNK = 500  # kubectl's --chunk-size default


@dataclass(frozen=True)
class Resource:
    """A kind kubenetlab reads, and where the API serves it."""

    kind: str
    group: str  # "" for core/v1
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`endpointslices.discovery.k8s.io`, as kubectl and RBAC name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.plural}" + (f"/{name}" if name else "")


SERVICES = Resource("Service", "", "v1", "services")
ENDPOINT_SLICES = Resource("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices")
NODES = Resource("Node", "", "v1", "nodes", namespaced=False)
CONFIG_MAPS = Resource("ConfigMap", "", "v1", "configmaps")
DEPLOYMENTS = Resource("Deployment", "apps", "v1", "deployments")
STATEFUL_SETS = Resource("StatefulSet", "apps", "v1", "statefulsets")
DAEMON_SETS = Resource("DaemonSet", "apps", "v1", "daemonsets")
GATEWAYS = Resource("Gateway", "gateway.networking.k8s.io", "v1", "gateways")
NAMESPACES = Resource("Namespace", "", "v1", "namespaces", namespaced=False)
PODS = Resource("Pod", "", "v1", "pods")
EVENTS = Resource("Event", "", "v1", "events")
SERVICE_CIDRS = Resource("ServiceCIDR", "networking.k8s.io", "v1", "servicecidrs", namespaced=False)
HTTP_ROUTES = Resource("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes")


@dataclass(frozen=True)
class Access:
    """One verb kubenetlab needs on a resource: `list` over all namespaces, `get` of named
    objects, or what cluster mode does in its own namespace (`create`, `delete`, pods/exec)."""

    resource: Resource
    verb: str = "list"
    namespace: str | None = None  # get: where the named objects live
    names: tuple[str, ...] = ()
    subresource: str = ""  # "exec" for pods/exec

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        if self.verb == "list" and self.resource.namespaced and not self.namespace:
            where = " (all namespaces)"
        names = f" {'/'.join(self.names)}" if self.names else ""
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {self.resource.qualified}{sub}{names}{where}"


# The ConfigMaps that say how the cluster's data path is set up.
CILIUM_CONFIG = "cilium-config"
KUBE_PROXY_CONFIG = "kube-proxy"
SYSTEM_NAMESPACE = "kube-system"


class Cluster:
    """The API server a kubeconfig (and context) points at; every request is bounded by
    `timeout` seconds and not retried, so an unreachable server ends within it."""

    def __init__(self, kubeconfig: str, context: str | None = None, timeout: float = 10) -> None:
        from kubernetes import client, config

        if timeout <= 0:
            raise UsageError(f"--timeout must be more than 0 seconds, not {timeout:g}")
        if not Path(kubeconfig).is_file():
            raise UsageError(f"--kubeconfig {kubeconfig}: no such file")
        try:
            doc = yaml.safe_load(Path(kubeconfig).read_text())
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            what = "invalid YAML" if isinstance(exc, yaml.YAMLError) else str(exc)
            raise UsageError(f"--kubeconfig {kubeconfig}: not a kubeconfig ({what})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("contexts") or [], list):
            raise UsageError(f"--kubeconfig {kubeconfig}: not a kubeconfig (no contexts list)")
        names = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
        if context is not None and context not in names:
            raise UsageError(
                f"--context {context!r} is not in {kubeconfig} (contexts: {', '.join(names) or 'none'})"
            )
        current = doc.get("current-context")
        if context is None and not current:
            raise UsageError(f"{kubeconfig} has no current-context: name one with --context")
        self.context: str = context or str(current)
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=kubeconfig, context=self.context, client_configuration=configuration
            )
        except (config.ConfigException, ValueError, OSError) as exc:
            raise UsageError(f"--kubeconfig {kubeconfig}, context {self.context}: {exc}") from None
        configuration.retries = 0
        self.server: str = configuration.host
        self.timeout = timeout
        self.api = client.ApiClient(configuration)
        self.version = ""

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------

    def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                 body: Any = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        """(HTTP status, JSON body); an unreachable server or refused credentials are
        EnvironmentProblems naming the server."""
        import urllib3
        from kubernetes.client.rest import ApiException

        request = self.api.param_serialize(
            method, path, query_params=query or [], body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            response = self.api.call_api(*request, _request_timeout=self.timeout)
            data = response.read()
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc  # ApiException(0): a TLS failure
            raise EnvironmentProblem(
                f"cannot reach the API server {self.server} (context {self.context}) within "
                f"{self.timeout:g} s: {str(reason).strip()}; check that the cluster is up and "
                f"that `kubectl --context {self.context} get --raw /version` answers"
            ) from None
        if response.status == 401:
            raise EnvironmentProblem(
                f"the API server {self.server} refused the credentials of context "
                f"{self.context} (401 Unauthorized): renew them (for example with your "
                "cloud's `get-credentials` command) and try again"
            )
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {"message": data[:200].decode(errors="replace")}

    def connect(self) -> str:
        """The server's version (`/version`'s gitVersion), or an EnvironmentProblem."""
        status, body = self.request("GET", "/version")
        if status != 200:
            raise EnvironmentProblem(
                f"the API server {self.server} answered /version with {status}: "
                f"{body.get('message', '')}"
            )
        self.version = str(body.get("gitVersion", "unknown"))
        return self.version

    def served(self, resource: Resource) -> bool:
        """Whether the API serves this group version (a CRD such as the Gateway API's may be
        absent: then there is nothing of that kind to read)."""
        status, body = self.request("GET", resource.path().rsplit("/", 1)[0])
        if status == 404:
            return False
        return status == 200 and any(
            r.get("name") == resource.plural for r in body.get("resources", [])
        )

    def missing(self, reads: list[Access]) -> list[Access]:
        """The accesses this kubeconfig's user is not allowed, asked of the API server."""
        out = []
        for read in reads:
            for name in read.names or ("",):
                attributes = {"verb": read.verb, "group": read.resource.group,
                              "resource": read.resource.plural}  # fmt: skip
                if read.namespace:
                    attributes["namespace"] = read.namespace
                if read.subresource:
                    attributes["subresource"] = read.subresource
                if name:
                    attributes["name"] = name
                review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                          "spec": {"resourceAttributes": attributes}}  # fmt: skip
                status, body = self.request(
                    "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
                )
                if status != 201 or not body.get("status", {}).get("allowed"):
                    out.append(read)
                    break
        return out

    def require(self, reads: list[Access]) -> None:
        """Exit 3 naming every access not allowed and the kubectl commands that grant it."""
        if not (refused := self.missing(reads)):
            return
        listed = [r for r in refused if r.verb == "list"]
        got = [r for r in refused if r.verb == "get" and r.names]
        fixes = []
        if listed:
            fixes.append(
                "kubectl create clusterrole knl-reader --verb=list --resource="
                + ",".join(r.resource.qualified for r in listed)
                + " && kubectl create clusterrolebinding knl-reader --clusterrole=knl-reader "
                "--user=<you>"
            )
        for r in got:
            fixes.append(
                f"kubectl -n {r.namespace} create role knl-reader --verb=get "
                f"--resource={r.resource.qualified} --resource-name={','.join(r.names)} && "
                f"kubectl -n {r.namespace} create rolebinding knl-reader --role=knl-reader --user=<you>"
            )
        others = [r for r in refused if r not in listed and r not in got]
        if others:  # what cluster mode creates: one ClusterRole with every verb it needs
            verbs = sorted({r.verb for r in others})
            resources = sorted({r.resource.qualified + (f"/{r.subresource}" if r.subresource else "")
                                for r in others})  # fmt: skip
            fixes.append(
                f"kubectl create clusterrole knl-runner --verb={','.join(verbs)} "
                f"--resource={','.join(resources)} && kubectl create clusterrolebinding "
                "knl-runner --clusterrole=knl-runner --user=<you>"
            )
        raise EnvironmentProblem(
            f"context {self.context} may not {'; '.join(r.describe() for r in refused)}: "
            f"grant it with: {' ; '.join(fixes)}"
        )

    def list(self, resource: Resource) -> list[dict[str, Any]]:
        """Every object of a kind in all namespaces, chunked, with kind/apiVersion set."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", CHUNK)]
            if token:
                query.append(("continue", token))
            status, body = self.request("GET", resource.path(), query)
            if status != 200:
                raise EnvironmentProblem(
                    f"the API server {self.server} answered list {resource.qualified} with "
                    f"{status}: {body.get('message', '')}"
                )
            for item in body.get("items") or []:
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
            token = (body.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        status, body = self.request("GET", resource.path(namespace, name))
        if status == 404:
            return None
        if status != 200:
            raise EnvironmentProblem(
                f"the API server {self.server} answered get {resource.qualified} "
                f"{namespace}/{name} with {status}: {body.get('message', '')}"
            )
        return {"apiVersion": resource.api_version, "kind": resource.kind, **body}

    def location(self, obj: dict[str, Any]) -> Location:
        """`cluster://<context>/<Kind>/<namespace>/<name>` (no namespace for a Node)."""
        meta = obj.get("metadata") or {}
        parts = [obj.get("kind", "Object"), meta.get("namespace"), meta.get("name", "")]
        return Location("cluster://" + "/".join([self.context, *(p for p in parts if p)]))

    def typed(self, objects: list[dict[str, Any]]) -> list[KubeObject]:
        return [parse(o, self.location(o)) for o in objects]


def internal_ipv4s(node: dict[str, Any]) -> list[str]:
    """A Node's InternalIP addresses (IPv4: the lab and the renderers are IPv4)."""
    return [a["address"] for a in (node.get("status") or {}).get("addresses") or []
            if a.get("type") == "InternalIP" and ":" not in a.get("address", "")]  # fmt: skip


def read_objects(
    cluster: Cluster, resources: list[Resource], config_maps: tuple[str, ...] = ()
) -> tuple[list[dict[str, Any]], list[str]]:
    """Connect, check every read first, then read: the objects, and notes on what was not
    there to read (a Gateway API not installed, a ConfigMap that does not exist)."""
    cluster.connect()
    notes: list[str] = []
    present = []
    for resource in resources:
        if resource.group and not cluster.served(resource):
            notes.append(f"{resource.qualified}: not served by this cluster (nothing to read)")
        else:
            present.append(resource)
    reads = [Access(r) for r in present]
    if config_maps:
        reads.append(Access(CONFIG_MAPS, "get", SYSTEM_NAMESPACE, config_maps))
    cluster.require(reads)
    objects = [obj for r in present for obj in cluster.list(r)]
    for name in config_maps:
        found = cluster.get(CONFIG_MAPS, SYSTEM_NAMESPACE, name)
        if found is None:
            notes.append(f"ConfigMap {SYSTEM_NAMESPACE}/{name}: not in this cluster")
        else:
            objects.append(found)
    return objects, notes
