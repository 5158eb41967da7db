"""What a run on a live cluster is told: the kubeconfig and context, the two nodes, the
namespace prefix and image, the timeouts and CPU pinning — and the flags that say them
(compare and bench share them). Light: the CLI imports it to build its parsers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubenetlab.cluster import workload
from kubenetlab.errors import UsageError


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: str
    context: str | None = None
    nodes: tuple[str, ...] = ()  # client node, server node; default: the first two that fit
    namespace_prefix: str = "knl"
    image: str = workload.DEFAULT_IMAGE
    timeout: float = 10.0  # each API request
    ready_timeout: float = 120.0
    dry_run: bool = False
    cpus: str = "auto"  # compare's --cpus: anything but none pins each tool to one CPU

    def __post_init__(self) -> None:
        if self.nodes and (len(self.nodes) != 2 or self.nodes[0] == self.nodes[1]):
            raise UsageError("--nodes takes two different node names: CLIENT,SERVER")
        prefix = self.namespace_prefix
        if not prefix or len(prefix) > 50 or not all(c.isalnum() or c == "-" for c in prefix):
            raise UsageError(f"--namespace-prefix {prefix!r}: lowercase letters, digits and -")
        if prefix != prefix.lower() or not prefix[0].isalpha():
            raise UsageError(f"--namespace-prefix {prefix!r}: must start with a lowercase letter")


def add_cluster_arguments(group: Any, dry_run: bool = True) -> None:
    """The flags of a command that measures a live cluster (compare, bench)."""
    group.add_argument("--kubeconfig", metavar="FILE",
                       help="measure this cluster through its API (pods, pods/exec)")  # fmt: skip
    group.add_argument("--context", help="the kubeconfig context (default: its current one)")
    group.add_argument("--nodes", metavar="CLIENT,SERVER", help="two node names (default: "
                       "the first two schedulable)")  # fmt: skip
    group.add_argument("--namespace-prefix", default="knl", help="of the namespace a run makes")
    group.add_argument("--image", default=workload.DEFAULT_IMAGE,
                       help="with sockperf, iperf3 and knl-rr (the repo's Containerfile)")  # fmt: skip
    group.add_argument("--timeout", type=float, default=10.0, help="seconds per API request")
    group.add_argument("--ready-timeout", type=float, default=120.0,
                       help="seconds for the pods to be ready")  # fmt: skip
    if dry_run:
        group.add_argument("--dry-run", action="store_true",
                           help="print every object the run would create (YAML; -o json: "
                           "a List)")  # fmt: skip


def cluster_settings(args: Any, nodes: tuple[str, ...]) -> ClusterSettings:
    return ClusterSettings(args.kubeconfig, args.context, nodes, args.namespace_prefix,
                           args.image, args.timeout, args.ready_timeout,
                           args.dry_run, args.cpus)  # fmt: skip
