"""A node agent: kube-proxy's informer loop against the lab's etcd.

    python -m kubenetlab.agent --lab LAB --node NODE --etcd URL --status FILE

List `/registry/`, program the node (full sync), then watch from the next revision and
sync only the difference after each batch of events, as kube-proxy does after its
informers deliver a change (iptables: a restore; nftables and ebpf: the delta). If etcd
goes away the agent says so in its status file and keeps the node's rules as they are,
retrying the watch: the data path keeps its last state, as a node does when the API
server is unreachable. The status file (JSON, replaced atomically) holds the revision
last applied, the sync it took and whether etcd answers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from kubenetlab.kernel.ledger import Ledger
from kubenetlab.kube.objects import KubeObject, parse
from kubenetlab.model import Lab
from kubenetlab.proxy import node_context, proxy_of
from kubenetlab.services import read_kubernetes
from kubenetlab.store import REGISTRY, Etcd, EtcdError


class Agent:
    def __init__(self, lab: Lab, node: str, store: Etcd, status: Path) -> None:
        self.lab, self.store, self.status_path = lab, store, status
        self.ctx = node_context(lab, next(n for n in lab.nodes if n.name == node))
        self.impl = proxy_of(lab)
        self.docs: dict[str, KubeObject] = {}  # etcd key → the object stored there
        self.current: Any = None
        self.revision = 0
        self.status: dict[str, Any] = {"node": node, "etcd": "unknown", "applied_revision": 0}

    def write_status(self, **fields: Any) -> None:
        self.status.update(fields, updated_at=time.time())
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status))
        tmp.replace(self.status_path)

    def sync(self) -> None:
        services, _ = read_kubernetes(list(self.docs.values()))
        desired = self.impl.desired(services, self.ctx)
        result = self.impl.sync(self.ctx, desired, self.current)
        self.current = desired
        self.write_status(
            etcd="ok", applied_revision=self.revision, applied_at=time.time(),
            last_sync={"changed": result.changed, "seconds": round(result.seconds, 6),
                       "mode": result.mode},
        )  # fmt: skip

    def list_all(self) -> None:
        items, self.revision = self.store.get_prefix(REGISTRY)
        self.docs = {key: parse(json.loads(value)) for key, value in items.items()}
        self.sync()

    def follow(self) -> None:
        """Watch from the revision after the last one applied; one sync per batch."""
        for events in self.store.watch(REGISTRY, self.revision + 1):
            for event in events:
                if event.kind == "DELETE" or event.value is None:
                    self.docs.pop(event.key, None)
                else:
                    self.docs[event.key] = parse(json.loads(event.value))
                self.revision = max(self.revision, event.revision)
            self.write_status(received_revision=self.revision, received_at=time.time())
            self.sync()

    def run(self) -> None:
        listed = False
        while True:
            try:
                if not listed:
                    self.list_all()
                    listed = True
                self.follow()
            except EtcdError as exc:  # keep the rules; say so; try again
                self.write_status(etcd=f"unreachable: {exc}")
                time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description="kubenetlab node agent (kube-proxy's loop)")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--status", required=True)
    args = parser.parse_args()
    ledger = Ledger.load(args.lab)
    if ledger is None:
        raise SystemExit(f"no lab {args.lab!r}")
    Agent(Lab.from_dict(ledger.lab), args.node, Etcd(args.etcd), Path(args.status)).run()


if __name__ == "__main__":
    main()
