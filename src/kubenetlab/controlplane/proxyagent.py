"""The eBPF proxy's node agent on a Kubernetes lab: a client of the lab's API, as Cilium's
agent is, programming its node's BPF maps from the Services and EndpointSlices it watches.

    python -m kubenetlab.controlplane.proxyagent --lab LAB --node NODE --kubeconfig FILE
        --status FILE [--min-sync-period SECONDS]

List both kinds, program the node (a full write of the maps), then watch each from the
list's resourceVersion; every event marks the state dirty and a runner syncs it the way
kube-proxy's BoundedFrequencyRunner does: at once if the last sync is older than
minSyncPeriod, else when it is — so a burst of changes costs one map update. A sync writes
only the difference (proxy/ebpf.delta). When the API does not answer, the maps stay as
they are (the data path keeps its last state) and the status file says so; the watches
are retried, a 410 Gone relists. The status file (JSON, replaced atomically) holds the
newest resourceVersion applied, when, and what the last map update took.

The client is the official `kubernetes` package (its watch streams and the
resourceVersion bookkeeping; lightkube has no pods/exec, which cluster mode needs, and one
client library is enough).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from kubenetlab.controlplane.objects import api_client
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.kube.objects import KubeObject, parse
from kubenetlab.model import Lab
from kubenetlab.proxy import node_context, proxy_of
from kubenetlab.services import read_kubernetes

WATCH_SECONDS = 300  # a watch is re-opened from its last resourceVersion after this


class ApiProxyAgent:
    def __init__(self, lab: Lab, node: str, kubeconfig: Path, status: Path, min_sync: float):
        self.lab, self.kubeconfig, self.status_path, self.min_sync = lab, kubeconfig, status, min_sync
        self.ctx = node_context(lab, next(n for n in lab.nodes if n.name == node))
        self.impl = proxy_of(lab)
        self.objects: dict[tuple[str, str, str], KubeObject] = {}  # (kind, ns, name)
        self.seen_rv = 0  # newest resourceVersion received
        self.lock = threading.Lock()
        self.dirty = threading.Event()
        self.current: Any = None
        self.last_sync = 0.0
        self.status: dict[str, Any] = {"node": node, "api": "unknown", "applied_rv": 0, "syncs": 0}

    def write_status(self, **fields: Any) -> None:
        with self.lock:
            self.status.update(fields, updated_at=time.time())
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status))
            tmp.replace(self.status_path)

    # --- the API side: list, then watch -------------------------------------------------

    def _apis(self) -> tuple[Any, Any, Any]:
        from kubernetes import client

        api = api_client(self.kubeconfig)
        return api, client.CoreV1Api(api), client.DiscoveryV1Api(api)

    def _keep(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (kind, meta.get("namespace", "default"), meta.get("name", ""))
        with self.lock:
            self.objects[key] = parse({**obj, "kind": kind})
            self.seen_rv = max(self.seen_rv, int(meta.get("resourceVersion") or 0))

    def list_all(self) -> dict[str, str]:
        """Both kinds, replacing what was held; their lists' resourceVersions."""
        api, core, discovery = self._apis()
        try:
            services = core.list_service_for_all_namespaces(_request_timeout=10)
            slices = discovery.list_endpoint_slice_for_all_namespaces(_request_timeout=10)
        finally:
            api.close()
        with self.lock:
            self.objects.clear()
        for kind, listed in (("Service", services), ("EndpointSlice", slices)):
            for item in listed.items:
                self._keep(kind, api.sanitize_for_serialization(item))
        with self.lock:
            self.seen_rv = max(self.seen_rv, int(services.metadata.resource_version),
                               int(slices.metadata.resource_version))  # fmt: skip
        self.dirty.set()
        return {"Service": services.metadata.resource_version,
                "EndpointSlice": slices.metadata.resource_version}  # fmt: skip

    def watch(self, kind: str, resource_version: str) -> None:
        """Follow one kind until the API fails; raises ApiException(410) when too old."""
        from kubernetes import watch

        api, core, discovery = self._apis()
        lister = (core.list_service_for_all_namespaces if kind == "Service"
                  else discovery.list_endpoint_slice_for_all_namespaces)  # fmt: skip
        rv = resource_version
        try:
            while True:
                stream = watch.Watch().stream(
                    lister, resource_version=rv, timeout_seconds=WATCH_SECONDS,
                    allow_watch_bookmarks=True,
                )  # fmt: skip
                for event in stream:
                    obj = api.sanitize_for_serialization(event["object"])
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        meta = obj.get("metadata") or {}
                        with self.lock:
                            self.objects.pop((kind, meta.get("namespace", "default"),
                                              meta.get("name", "")), None)  # fmt: skip
                            self.seen_rv = max(self.seen_rv, int(rv))
                    else:
                        self._keep(kind, obj)
                    self.dirty.set()
        finally:
            api.close()

    def follow(self) -> None:
        """List, then watch both kinds in threads; returns when either watch fails."""
        versions = self.list_all()
        self.write_status(api="ok")
        failed = threading.Event()

        def run(kind: str) -> None:
            try:
                self.watch(kind, versions[kind])
            except Exception as exc:  # (any failure: relist)
                self.write_status(api=f"watch {kind} failed: {str(exc)[:200]}")
            finally:
                failed.set()

        for kind in versions:
            threading.Thread(target=run, args=(kind,), daemon=True).start()
        failed.wait()

    # --- the node side: a bounded-frequency sync loop -----------------------------------

    def sync(self) -> None:
        with self.lock:
            docs, applied = list(self.objects.values()), self.seen_rv
        services, unsupported = read_kubernetes(docs)
        desired = self.impl.desired(services, self.ctx)
        result = self.impl.sync(self.ctx, desired, self.current)
        self.current, self.last_sync = desired, time.monotonic()
        self.write_status(
            applied_rv=applied, applied_at=time.time(), syncs=self.status["syncs"] + 1,
            services=len(services),
            # what no proxy here renders, then what this one does not: named, never dropped
            unsupported=([f"{u.service} {u.field}: {u.reason}" for u in unsupported]
                         + list(getattr(desired, "gaps", [])))[:20],
            last_sync={"changed": result.changed, "seconds": round(result.seconds, 6),
                       "mode": result.mode},
        )  # fmt: skip

    def runner(self) -> None:
        while True:
            self.dirty.wait()
            wait = self.last_sync + self.min_sync - time.monotonic()
            if wait > 0:  # coalesce: at most one sync per min_sync
                time.sleep(wait)
            self.dirty.clear()
            try:
                self.sync()
            except Exception as exc:  # (keep the maps; say so; try again)
                self.write_status(sync_error=str(exc)[:300])
                self.dirty.set()
                time.sleep(0.5)

    def run(self) -> None:
        threading.Thread(target=self.runner, daemon=True).start()
        while True:
            try:
                self.follow()
            except Exception as exc:  # (unreachable API: keep the maps)
                self.write_status(api=f"unreachable: {str(exc)[:200]}")
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description="kubenetlab eBPF proxy agent (API client)")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--min-sync-period", type=float, default=1.0)
    args = parser.parse_args()
    ledger = Ledger.load(args.lab)
    if ledger is None:
        raise SystemExit(f"no lab {args.lab!r}")
    ApiProxyAgent(Lab.from_dict(ledger.lab), args.node, Path(args.kubeconfig),
                  Path(args.status), args.min_sync_period).run()  # fmt: skip


if __name__ == "__main__":
    main()
