"""`kubenetlab compare --kubeconfig`: compare's tests on a live cluster, with its tools run
in kubenetlab's pods through pods/exec and parsed by the same parsers, repeated and
interleaved the same way, into the same document (`kind: compare`) whose `cluster` names
what was measured.

Rows: `underlay` (host-network pod → host-network pod: node to node), and the cluster's
pod → pod path across the two nodes, with TCP_CRR to the server's ClusterIP and TCP_RR
from the client node's host network to the server's NodePort on the other node. CPU per
transaction is not measured here: the pods' CPU belongs to the cluster's cgroups, not to
a meter kubenetlab holds (said in each result's notes); the CPUs the pods got are recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kubenetlab.bench import iperf3, runner, sockperf
from kubenetlab.bench.result import LATENCY_TESTS, BenchResult, Run
from kubenetlab.bench.stats import histogram_of, latency_summary_us, new_histogram
from kubenetlab.cluster import workload
from kubenetlab.cluster.session import NodeInfo, Session, needed, schedulable_nodes
from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError
from kubenetlab.kube.cluster import (
    CONFIG_MAPS,
    KUBE_PROXY_CONFIG,
    NODES,
    SYSTEM_NAMESPACE,
    Access,
    Cluster,
)
from kubenetlab.kube.dataplane_config import kube_proxy, value

CPU_NOTE = (
    "cluster mode: CPU per transaction not measured (the pods' CPU is accounted in the "
    "cluster's cgroups, which kubenetlab does not meter)"
)
# DaemonSets in kube-system that name the CNI (the first found wins)
CNI_DAEMONSETS = (
    ("cilium", "cilium"), ("calico-node", "calico"), ("kube-flannel", "flannel"),
    ("weave-net", "weave"), ("kube-router", "kube-router"), ("antrea-agent", "antrea"),
)  # fmt: skip


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

    def __post_init__(self) -> None:
        if self.nodes and (len(self.nodes) != 2 or self.nodes[0] == self.nodes[1]):
            raise UsageError("--nodes takes two different node names: CLIENT,SERVER")
        prefix = self.namespace_prefix
        if not prefix or len(prefix) > 50 or not all(c.isalnum() or c == "-" for c in prefix):
            raise UsageError(f"--namespace-prefix {prefix!r}: lowercase letters, digits and -")
        if prefix != prefix.lower() or not prefix[0].isalpha():
            raise UsageError(f"--namespace-prefix {prefix!r}: must start with a lowercase letter")


@dataclass
class ClusterRun:
    """What was measured: the cluster and the two nodes, as the result names them."""

    context: str
    server: str
    version: str
    nodes: list[NodeInfo]
    cni: str
    kube_proxy: str
    pod_mtu: int | None = None
    cpus: dict[str, str] = field(default_factory=dict)  # pod → cpuset.cpus.effective
    namespace: str = ""  # the run's, and whether it was gone when the run ended
    namespace_deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def connect(settings: ClusterSettings, reads: list[Access]) -> tuple[Cluster, NodeInfo, NodeInfo]:
    """The cluster, `reads` (every verb the caller will use) allowed, and the two nodes."""
    cluster = Cluster(settings.kubeconfig, settings.context, settings.timeout)
    cluster.connect()
    cluster.require(reads)
    nodes = schedulable_nodes(cluster)
    by_name = {n.name: n for n in nodes}
    if settings.nodes:
        unknown = [n for n in settings.nodes if n not in by_name]
        if unknown:
            raise UsageError(
                f"--nodes: {', '.join(unknown)} is not a schedulable node "
                f"(schedulable: {', '.join(by_name) or 'none'})"
            )
        return cluster, by_name[settings.nodes[0]], by_name[settings.nodes[1]]
    if len(nodes) < 2:
        cluster.close()
        raise TooFewNodes(
            f"every row crosses two nodes and {cluster.context} has {len(nodes)} schedulable "
            f"({', '.join(by_name) or 'none'})"
        )
    return cluster, nodes[0], nodes[1]


class TooFewNodes(EnvironmentProblem):
    """A cluster with fewer than two schedulable nodes: its rows are "not measured"."""


def plan_for(
    settings: ClusterSettings, client: NodeInfo, server: NodeInfo, run_id: str | None = None
) -> workload.Plan:
    return workload.Plan.new(
        settings.namespace_prefix, settings.image, client.name, server.name, run_id
    )


def dry_run(settings: ClusterSettings, output: str) -> str:
    """Every object a run would create, as YAML (or a JSON List with -o json)."""
    import yaml

    cluster, client, server = connect(settings, [Access(NODES)])
    cluster.close()
    objects = workload.manifests(plan_for(settings, client, server))
    if output == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n"
    return yaml.safe_dump_all(objects, sort_keys=False)


def _detect(cluster: Cluster, client: NodeInfo, server: NodeInfo) -> ClusterRun:
    status, body = cluster.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets")
    names = [d["metadata"]["name"] for d in body.get("items") or []] if status == 200 else []
    cni = next((cni for prefix, cni in CNI_DAEMONSETS for n in names if n.startswith(prefix)),
               "unknown (no known CNI DaemonSet in kube-system)" if status == 200
               else f"unknown (daemonsets in kube-system: {status})")  # fmt: skip
    try:  # what the data path is: facts to report, not needed to measure
        config = cluster.get(CONFIG_MAPS, SYSTEM_NAMESPACE, KUBE_PROXY_CONFIG)
    except EnvironmentProblem as exc:  # not allowed to read it: said, not guessed
        return ClusterRun(cluster.context, cluster.server, cluster.version, [client, server],
                          cni, f"unknown ({exc.message})")  # fmt: skip
    daemonset = any(n.startswith("kube-proxy") for n in names)
    if config is not None:
        mode = value(kube_proxy(config), "kube-proxy mode") or "unknown"
        if not daemonset:  # kubeadm's ConfigMap without its DaemonSet: run some other way
            mode += " (ConfigMap kube-system/kube-proxy; no kube-proxy DaemonSet)"
    elif daemonset:
        mode = "running (no ConfigMap kube-system/kube-proxy to read its mode from)"
    elif status == 200:
        mode = "replaced (no kube-proxy DaemonSet or ConfigMap)"
    else:
        mode = f"unknown (daemonsets in kube-system: {status})"
    return ClusterRun(cluster.context, cluster.server, cluster.version, [client, server], cni,
                      mode)  # fmt: skip


# --- the drivers: the lab's tools and parsers, run through pods/exec ----------------------


def _sockperf(session: Session, pod: str, ip: str, port: int, spec: runner.BenchSpec,
              index: int) -> tuple[Run, Any, str | None]:  # fmt: skip
    log = f"/tmp/knl-sockperf-{session.plan.run_id}-{index}.csv"
    argv = sockperf.client_argv(ip, port, False, spec.duration, spec.msg_size, log)
    text = _checked(session, pod, argv, spec.duration + 30)
    full = _checked(session, pod, ["sh", "-c", f"cat {log}; rm -f {log}"], 30)
    summary = sockperf.parse_summary(text)
    hist = histogram_of(sockperf.parse_full_log(full))
    run_ = Run(index, spec.duration, summary.received, latency_summary_us(hist),
               cpu=_no_cpu(spec.duration), tool_report=summary.to_dict())  # fmt: skip
    return run_, hist, f"sockperf {summary.version or ''}".strip()


def _knl_rr(session: Session, pod: str, ip: str, port: int, spec: runner.BenchSpec,
            index: int) -> tuple[Run, Any, str | None]:  # fmt: skip
    argv = ["knl-rr", "client", spec.test, ip, str(port), str(spec.duration), str(spec.warmup),
            str(spec.msg_size)]  # fmt: skip
    text = _checked(session, pod, argv, spec.duration + spec.warmup + 30)
    out = json.loads(text.strip().splitlines()[-1])
    hist = histogram_of(out["samples_ns"])
    report = {"lost": out["lost"], "seconds": out["seconds"], "valid_seconds": spec.duration}
    run_ = Run(index, out["seconds"], out["transactions"], latency_summary_us(hist),
               cpu=_no_cpu(out["seconds"]), tool_report=report)  # fmt: skip
    return run_, hist, runner.NATIVE


def _iperf3(session: Session, pod: str, ip: str, port: int, spec: runner.BenchSpec,
            index: int) -> tuple[Run, Any, str | None]:  # fmt: skip
    argv = iperf3.client_argv(ip, port, spec.duration, False, 0)
    text = _checked(session, pod, argv, spec.duration + 30)
    summary = iperf3.parse_json(text[: text.rindex("}") + 1] if "}" in text else text)
    run_ = Run(index, spec.duration, None, gbps=summary.gbps_received,
               retransmits=summary.retransmits, cpu=_no_cpu(spec.duration),
               tool_report=summary.to_dict())  # fmt: skip
    return run_, None, f"iperf3 {(summary.version or '').replace('iperf ', '')}".strip()


def _no_cpu(seconds: float) -> dict[str, Any]:
    """A run's CPU as the result schema has it when it cannot be measured: nulls, and why."""
    fields = ("net_s", "process_s", "softirq_s", "busy_s", "steal_percent")
    return {**dict.fromkeys(fields), "seconds": seconds, "source": "not measured",
            "reason": CPU_NOTE}  # fmt: skip


def _checked(session: Session, pod: str, argv: list[str], timeout: float) -> str:
    code, out, err = session.exec(pod, argv, timeout)
    if code != 0:
        last = (err.strip() or out.strip()).splitlines()[-1:] or ["no output"]
        raise KnlError(f"{argv[0]} in pod {pod} exited {code}: {last[0][:300]}")
    return out


DRIVERS = {"rr": _sockperf, "crr": _knl_rr, "stream": _iperf3}  # test → the tool that runs it


POD_ROW = "cluster"  # the cluster's pod → pod path, whatever its CNI
VIA = {"crr_service": "crr", "rr_nodeport": "rr"}  # compare's Service tests → their test


@dataclass(frozen=True)
class Job:
    row: str  # "underlay" or the cluster's row
    test: str  # rr, crr, stream, crr_service, rr_nodeport
    client: str  # pod
    server: str  # pod
    dst: str  # what the result names: the server pod or the Service in front of it
    ip: str
    port: int
    path: str

    @property
    def driver(self) -> str:
        """rr, crr or stream: the test the tool runs (a Service test runs its plain one)."""
        return VIA.get(self.test, self.test)


def _jobs(
    session: Session, tests: tuple[str, ...], server_node: NodeInfo, server_ip: str
) -> list[Job]:
    ports = workload.PORTS
    ips = {"underlay": server_node.internal_ip, POD_ROW: server_ip}
    port = {"rr": ports["sockperf"], "crr": ports["knl-rr"], "stream": ports["iperf3"]}
    jobs = []
    for row, client in (("underlay", "host-client"), (POD_ROW, "client")):
        path = ("node → node over the underlay (host network pods)" if row == "underlay"
                else "pod → pod, other node")  # fmt: skip
        server = "host-server" if row == "underlay" else "server"
        jobs += [Job(row, t, client, server, server, ips[row], port[t], path)
                 for t in tests if t in port]  # fmt: skip
    where = f"/api/v1/namespaces/{session.plan.namespace}/services/server-"
    services = {s: session.cluster.request("GET", where + s)[1] for s in ("clusterip", "nodeport")}
    if "crr" in tests:
        vip = services["clusterip"]["spec"]["clusterIP"]
        jobs.append(Job(POD_ROW, "crr_service", "client", "server", "server-clusterip", vip,
                        ports["knl-rr"], f"pod → ClusterIP {vip}:{ports['knl-rr']}, through "
                        "the service proxy"))  # fmt: skip
    if "rr" in tests:
        node_port = next(p["nodePort"] for p in services["nodeport"]["spec"]["ports"]
                         if p["name"] == "sockperf")  # fmt: skip
        jobs.append(Job(POD_ROW, "rr_nodeport", "host-client", "server", "server-nodeport",
                        server_node.internal_ip, node_port,
                        f"node → NodePort {server_node.internal_ip}:{node_port}, through the "
                        "service proxy"))  # fmt: skip
    return jobs


def _pod_facts(session: Session, info: ClusterRun, server_ip: str) -> None:
    """The CPUs each pod may run on, and the pod network's MTU, read inside the pods."""
    for pod in session.plan.pods:
        code, out, _ = session.exec(pod, ["cat", "/sys/fs/cgroup/cpuset.cpus.effective"], 30)
        info.cpus[pod] = (
            out.strip() if code == 0 and out.strip() else "unknown (no cgroup v2 cpuset)"
        )
    code, out, _ = session.exec("client", ["ip", "-o", "route", "get", server_ip], 30)
    words = out.split()
    if code == 0 and "dev" in words:
        dev = words[words.index("dev") + 1]  # `ip link`, not /sys: sysfs may be the host's
        code, link, _ = session.exec("client", ["ip", "-o", "link", "show", "dev", dev], 30)
        fields = link.split()
        if code == 0 and "mtu" in fields and fields[fields.index("mtu") + 1].isdigit():
            info.pod_mtu = int(fields[fields.index("mtu") + 1])


def measure(
    settings: ClusterSettings,
    tests: tuple[str, ...],
    repeats: int,
    spec_of: Any,
    on_step: Any = None,
) -> tuple[dict[tuple[str, str], BenchResult], ClusterRun]:
    """Every (row, test), `repeats` interleaved rounds; the results, and what was measured
    (with the namespace used, deleted before this returns)."""
    run_id = workload.new_run_id()
    namespace = f"{settings.namespace_prefix}-{run_id}"
    cluster, client, server = connect(settings, needed(namespace))
    with cluster:
        plan = plan_for(settings, client, server, run_id)
        info = _detect(cluster, client, server)
        collected: dict[tuple[str, str], list[tuple[Run, Any, str | None]]] = {}
        with Session(cluster, plan, settings.ready_timeout) as session:
            server_ip = (session.pod("server").get("status") or {}).get("podIP", "")
            _pod_facts(session, info, server_ip)
            jobs = _jobs(session, tests, server, server_ip)
            for index in range(1, repeats + 1):
                for job in jobs:
                    spec = spec_of(job.driver)
                    got = DRIVERS[job.driver](session, job.client, job.ip, job.port, spec, index)
                    collected.setdefault((job.row, job.test), []).append(got)
                    if on_step:
                        on_step(f"{job.row} {job.test} run {index}")
        info.namespace, info.namespace_deleted = plan.namespace, session.deleted
        results = {}
        for job in jobs:
            runs = collected[(job.row, job.test)]
            results[(job.row, job.test)] = _result(job, runs, spec_of(job.driver), info, plan)
    return results, info


def _result(job: Job, runs: list[tuple[Run, Any, str | None]], spec: runner.BenchSpec,
            info: ClusterRun, plan: workload.Plan) -> BenchResult:  # fmt: skip
    pooled = new_histogram()
    for _, hist, _ in runs:
        if hist is not None:
            pooled.add(hist)
    test = job.driver
    result = BenchResult(
        test=test, tool=runs[-1][2] or test, fallback=False,
        lab=f"cluster://{info.context}", profile=POD_ROW, src=f"{plan.namespace}/{job.client}",
        dst=f"{plan.namespace}/{job.dst}", dst_ip=job.ip, path=job.path,
        msg_size=max(sockperf.MIN_MSG_SIZE, spec.msg_size) if test == "rr" else spec.msg_size,
        duration_s=spec.duration, runs=[r for r, _, _ in runs], notes=_notes(info),
        placement={"policy": "none", "client_cpus": _cpu_list(info.cpus.get(job.client, "")),
                   "server_cpus": _cpu_list(info.cpus.get(job.server, "")),
                   "note": "the cluster's: kubenetlab pins nothing inside a pod (the CPUs "
                   "are the pods' cpuset.cpus.effective)"},
        proxy=info.kube_proxy,
    )  # fmt: skip
    if test in LATENCY_TESTS:
        result.histogram = pooled
        result.pooled_latency_us = latency_summary_us(pooled)
    result.estimates = runner.estimates(test, result.runs)
    return result


def _notes(info: ClusterRun) -> list[str]:
    notes = [CPU_NOTE]
    if not info.namespace_deleted:
        notes.append(f"namespace {info.namespace} still terminating after the run: "
                     "`kubenetlab cluster clean` removes it")  # fmt: skip
    return notes


def _cpu_list(cpuset: str) -> list[int] | None:
    """ "0-3,6" → [0, 1, 2, 3, 6]; None when the pod's cpuset could not be read."""
    out: list[int] = []
    for part in cpuset.strip().split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        out += range(int(low), int(high or low) + 1)
    return out or None


def clean(settings: ClusterSettings) -> list[str]:
    """Remove namespaces earlier runs left (by kubenetlab's label); the ones removed."""
    from kubenetlab.cluster.session import DELETE_WAIT, delete_namespace, leftovers

    with Cluster(settings.kubeconfig, settings.context, settings.timeout) as cluster:
        cluster.connect()
        found = leftovers(cluster)
        gone = [ns for ns in found if delete_namespace(cluster, ns, DELETE_WAIT)]
        left = sorted(set(found) - set(gone))
        if left:
            raise KnlError(f"still terminating after {DELETE_WAIT:g} s: {', '.join(left)}")
    return gone
