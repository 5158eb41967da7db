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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kubenetlab.bench import iperf3, runner, sockperf
from kubenetlab.bench.result import LATENCY_TESTS, BenchResult, Run
from kubenetlab.bench.stats import histogram_of, latency_summary_us, new_histogram
from kubenetlab.cluster import workload
from kubenetlab.cluster.detect import FLANNEL_CONFIG, detect
from kubenetlab.cluster.session import NodeInfo, Session, needed, schedulable_nodes
from kubenetlab.cluster.settings import ClusterSettings
from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError
from kubenetlab.kube.cluster import (
    CONFIG_MAPS,
    DAEMON_SETS,
    KUBE_PROXY_CONFIG,
    NODES,
    SYSTEM_NAMESPACE,
    Access,
    Cluster,
)

CPU_NOTE = (
    "cluster mode: CPU per transaction not measured (the pods' CPU is accounted in the "
    "cluster's cgroups, which kubenetlab does not meter)"
)


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
    model: str | None = None  # the lab stack that models the data path (compare --profiles)
    model_reason: str = ""
    facts: list[dict[str, str]] = field(default_factory=list)  # name, value, source
    cpus: dict[str, str] = field(default_factory=dict)  # pod → the CPUs it may run on
    pinned: dict[str, str] = field(default_factory=dict)  # pod → "taskset -c N" or why not
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
        settings.namespace_prefix,
        settings.image,
        client.name,
        server.name,
        run_id,
        pin=settings.cpus != "none",
    )


def dry_run(settings: ClusterSettings, output: str) -> str:
    """Every object a run would create, as YAML (or a JSON List with -o json)."""
    from kubenetlab import yamlout

    cluster, client, server = connect(settings, [Access(NODES)])
    cluster.close()
    objects = workload.manifests(plan_for(settings, client, server))
    if output == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n"
    return yamlout.dump_all(objects)


# ConfigMaps that say what the data path is: (namespace, name), read when allowed.
DATA_PATH_CONFIG_MAPS = (
    (SYSTEM_NAMESPACE, KUBE_PROXY_CONFIG), (SYSTEM_NAMESPACE, "cilium-config"),
    ("kube-flannel", FLANNEL_CONFIG), (SYSTEM_NAMESPACE, FLANNEL_CONFIG),
)  # fmt: skip


def _detect(cluster: Cluster, client: NodeInfo, server: NodeInfo) -> ClusterRun:
    """The CNI, kube-proxy's mode and the lab stack that models them: facts to report, not
    needed to measure, so what may not be read is said, not guessed."""
    try:  # every namespace: Flannel's own manifest puts its DaemonSet in kube-flannel
        daemonsets: list[dict[str, Any]] | None = cluster.list(DAEMON_SETS)
        why = ""
    except EnvironmentProblem as exc:
        daemonsets, why = None, exc.message
    config_maps = []
    for namespace, name in DATA_PATH_CONFIG_MAPS:
        try:
            found = cluster.get(CONFIG_MAPS, namespace, name)
        except EnvironmentProblem:
            continue  # not allowed: that fact stays unknown, and the detection says why
        if found is not None:
            config_maps.append(found)
    path = detect(daemonsets, config_maps, why,
                  cluster.list(NODES))  # fmt: skip
    return ClusterRun(cluster.context, cluster.server, cluster.version, [client, server],
                      path.cni, path.kube_proxy, model=path.model, model_reason=path.model_reason,
                      facts=[f.to_dict() for f in path.facts])  # fmt: skip


# --- the drivers: the lab's tools and parsers, run through pods/exec ----------------------


def _sockperf(session: Session, pod: str, ip: str, port: int, spec: runner.BenchSpec,
              index: int) -> tuple[Run, Any, str | None]:  # fmt: skip
    log = f"/tmp/knl-sockperf-{session.plan.run_id}-{index}.csv"
    argv = sockperf.client_argv(ip, port, False, spec.duration, spec.msg_size, log)
    text = _checked(session, pod, _pinned(session, pod, argv), spec.duration + 30)
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
    text = _checked(session, pod, _pinned(session, pod, argv), spec.duration + spec.warmup + 30)
    out = json.loads(text.strip().splitlines()[-1])
    hist = histogram_of(out["samples_ns"])
    report = {"lost": out["lost"], "seconds": out["seconds"], "valid_seconds": spec.duration}
    run_ = Run(index, out["seconds"], out["transactions"], latency_summary_us(hist),
               cpu=_no_cpu(out["seconds"]), tool_report=report)  # fmt: skip
    return run_, hist, runner.NATIVE


def _iperf3(session: Session, pod: str, ip: str, port: int, spec: runner.BenchSpec,
            index: int) -> tuple[Run, Any, str | None]:  # fmt: skip
    argv = iperf3.client_argv(ip, port, spec.duration, False, 0)
    text = _checked(session, pod, _pinned(session, pod, argv), spec.duration + 30)
    summary = iperf3.parse_json(text[: text.rindex("}") + 1] if "}" in text else text)
    run_ = Run(index, spec.duration, None, gbps=summary.gbps_received,
               retransmits=summary.retransmits, cpu=_no_cpu(spec.duration),
               tool_report=summary.to_dict())  # fmt: skip
    return run_, None, f"iperf3 {(summary.version or '').replace('iperf ', '')}".strip()


def _pinned(session: Session, pod: str, argv: list[str]) -> list[str]:
    """The client's argv under its pod's pinning, when it has one."""
    pin = session.pins.get(pod, "")
    return [*pin.split(), *argv] if pin.startswith("taskset") else argv


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


BASELINE = "underlay"  # host network → host network: node to node
POD_ROW = "cluster"  # the cluster's pod → pod path, whatever its CNI
VIA = {"crr_service": "crr", "rr_nodeport": "rr"}  # compare's Service tests → their test
TOOL_PORT = {"rr": "sockperf", "crr": "knl-rr", "stream": "iperf3"}  # test → server port's name
# bench --kubeconfig --path NAME: (client pod, where it sends)
PATHS = {
    "pod": ("client", "the server pod, on the other node"),
    "underlay": ("host-client", "the server node (host network pods)"),
    "clusterip": ("client", "the server's ClusterIP Service"),
    "nodeport": ("host-client", "the server's NodePort on the server node"),
}


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


@dataclass(frozen=True)
class Target:
    """Where the tools send, once the pods and Services exist."""

    session: Session
    server_node: NodeInfo
    server_ip: str

    def job(self, path: str, test: str, row: str | None = None, name: str | None = None) -> Job:
        """`test` (rr, crr, stream) over `path` (PATHS); `row`/`name` as the result files it."""
        tool = TOOL_PORT[test]
        port = workload.PORTS[tool]
        node_ip = self.server_node.internal_ip
        row = row or (BASELINE if path == "underlay" else POD_ROW)
        client = PATHS[path][0]
        if path == "pod":
            return Job(row, name or test, client, "server", "server", self.server_ip, port,
                       "pod → pod, other node")  # fmt: skip
        if path == "underlay":
            return Job(row, name or test, client, "host-server", "host-server", node_ip, port,
                       "node → node over the underlay (host network pods)")  # fmt: skip
        service = self._service("clusterip" if path == "clusterip" else "nodeport")
        if path == "clusterip":
            vip = service["spec"]["clusterIP"]
            return Job(row, name or test, client, "server", "server-clusterip", vip, port,
                       f"pod → ClusterIP {vip}:{port}, through the service proxy")  # fmt: skip
        node_port = next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == tool)
        return Job(row, name or test, client, "server", "server-nodeport", node_ip, node_port,
                   f"node → NodePort {node_ip}:{node_port}, through the service proxy")  # fmt: skip

    def _service(self, type_: str) -> dict[str, Any]:
        where = f"/api/v1/namespaces/{self.session.plan.namespace}/services/server-{type_}"
        return self.session.cluster.request("GET", where)[1]


def compare_jobs(tests: tuple[str, ...]) -> Any:
    """compare's jobs: every test on the underlay and the pod path, CRR to the ClusterIP,
    RR to the NodePort."""

    def jobs(target: Target) -> list[Job]:
        out = [target.job(path, t) for path in ("underlay", "pod") for t in tests
               if t in TOOL_PORT]  # fmt: skip
        if "crr" in tests:
            out.append(target.job("clusterip", "crr", name="crr_service"))
        if "rr" in tests:
            out.append(target.job("nodeport", "rr", name="rr_nodeport"))
        return out

    return jobs


def _pod_facts(session: Session, info: ClusterRun, server_ip: str) -> None:
    """The CPUs each pod may run on and how its tools are pinned, and the pod network's
    MTU, read inside the pods (one exec each)."""
    plan = session.plan
    for pod in plan.pods:
        code, out, _ = session.exec(pod, ["sh", "-c", workload.PIN_PROBE], 30)
        said = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        cpus = _cpu_list(said.get("cpus", "")) if code == 0 else None
        info.cpus[pod] = (
            said["cpus"].strip() if cpus else "unknown (neither cpuset nor affinity read)"
        )
        pin = said.get("pin", "").strip()
        info.pinned[pod] = (
            "unpinned (--cpus none)" if not plan.pin
            else "unpinned (the pod's CPUs could not be read)" if not cpus
            else pin if pin.startswith("taskset")
            else "unpinned (no taskset in the image, or the kernel refused)"
        )  # fmt: skip
    session.pins = dict(info.pinned)
    code, link, _ = session.exec("client", workload.route_mtu(server_ip), 30)
    fields = link.split()
    if code == 0 and "mtu" in fields and fields[fields.index("mtu") + 1].isdigit():
        info.pod_mtu = int(fields[fields.index("mtu") + 1])


def measure(
    settings: ClusterSettings,
    jobs_of: Callable[[Target], list[Job]],
    repeats: int,
    spec_of: Callable[[str], runner.BenchSpec],
    on_step: Callable[[str], None] | None = None,
) -> tuple[dict[tuple[str, str], BenchResult], ClusterRun]:
    """Every job `jobs_of` picks, `repeats` interleaved rounds; the results by (row, test),
    and what was measured (with the namespace used, deleted before this returns)."""
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
            jobs = jobs_of(Target(session, server, server_ip))
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
        lab=f"cluster://{info.context}", profile=job.row, src=f"{plan.namespace}/{job.client}",
        dst=f"{plan.namespace}/{job.dst}", dst_ip=job.ip, path=job.path,
        msg_size=max(sockperf.MIN_MSG_SIZE, spec.msg_size) if test == "rr" else spec.msg_size,
        duration_s=spec.duration, runs=[r for r, _, _ in runs], notes=_notes(info),
        placement=_placement(info, job, plan),
        proxy=f"kube-proxy: {info.kube_proxy}",
    )  # fmt: skip
    if test in LATENCY_TESTS:
        result.histogram = pooled
        result.pooled_latency_us = latency_summary_us(pooled)
    result.estimates = runner.estimates(test, result.runs)
    return result


def _placement(info: ClusterRun, job: Job, plan: workload.Plan) -> dict[str, Any]:
    """Client and server are on two nodes, so compare's `same` cannot apply: each end on
    one CPU of its own pod (split) when both could be pinned, else unpinned, and why."""
    nodes = {pod: node for pod, (node, _, _) in plan.pods.items()}
    ends = {end: info.pinned.get(pod, "") for end, pod in (("client", job.client),
                                                            ("server", job.server))}  # fmt: skip
    allowed = f"pod CPUs: client {info.cpus.get(job.client)}, server {info.cpus.get(job.server)}"
    on = {"client_node": nodes[job.client], "server_node": nodes[job.server]}
    if all(pin.startswith("taskset") for pin in ends.values()):
        return {"policy": "split", "client_cpus": [int(ends["client"].split()[-1])],
                "server_cpus": [int(ends["server"].split()[-1])], **on,
                "note": f"each tool pinned with taskset ({allowed})"}  # fmt: skip
    why = "; ".join(f"{end} {pin}" for end, pin in ends.items() if not pin.startswith("taskset"))
    return {"policy": "none", "client_cpus": None, "server_cpus": None, **on,
            "note": f"{why} ({allowed})"}  # fmt: skip


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
