"""Lab lifecycle: up, down, down --all, status. Orchestrates render → kernel."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenetlab import interrupt
from kubenetlab.components import components_of
from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError
from kubenetlab.kernel import bpf, cgroups, netns, preflight, procs
from kubenetlab.kernel.apply import ApplyError, apply
from kubenetlab.kernel.ledger import (
    Ledger,
    exclusive,
    known_labs,
    orphan_bpf_mounts,
    orphan_state_dirs,
    remove_torn_ledger_writes,
)
from kubenetlab.model import NAME_PREFIX, Lab, netns_prefix
from kubenetlab.plan import KernelObject
from kubenetlab.routing import profile_class
from kubenetlab.topology import topology_plan


def render(lab: Lab) -> list[KernelObject]:
    """Everything the lab needs, in creation order (pure)."""
    return topology_plan(lab) + profile_class(lab.profile)().plan(lab)


def preview(lab: Lab) -> tuple[list[KernelObject], list[str]]:
    """`lab up --dry-run`: the objects, and what would stop `lab up` on this machine."""
    if Ledger.load(lab.name) is not None:
        raise UsageError(f"lab {lab.name!r} is already up: `kubenetlab lab down {lab.name}` first")
    check_name_overlap(lab.name)
    cls = profile_class(lab.profile)
    missing = preflight.missing_kernel_options(cls.kernel_options)
    notes = [f"this kernel lacks {', '.join(missing)}: lab up would exit 3"] if missing else []
    return render(lab), notes


@dataclass
class UpResult:
    lab: Lab
    objects: int
    seconds: float
    converged_seconds: float | None = None  # profiles whose routes come from a daemon


def up(lab: Lab, on_progress: Callable[[str, int, int], None] | None = None) -> UpResult:
    """Kernel objects first, then each component in order; on any failure or signal,
    everything built so far is torn down before the exception goes on. `on_progress`
    hears (what, kernel objects made, kernel objects in all)."""
    preflight.require_root("lab up")
    cls = profile_class(lab.profile)
    preflight.require_kernel(cls.kernel_options, f"routing profile {cls.name!r}")
    components = components_of(lab)
    for component in components:
        preflight.require_tools(component.tools(lab))
    objects = render(lab)
    plans = [(component, component.plan(lab)) for component in components]
    started = time.monotonic()
    with exclusive():
        _check_free(lab)
        ledger = Ledger.begin(lab, objects)
        try:
            made = 0

            def step() -> None:
                nonlocal made
                made += 1
                if on_progress is not None:
                    on_progress(f"lab {lab.name}: building", made, len(objects))

            apply(objects, on_step=step)
            for component, plan in plans:
                ledger.extra.update(component.start(lab, ledger, plan))
                interrupt.check()
        except ApplyError as exc:
            teardown(ledger)
            raise EnvironmentProblem(f"lab up failed, nothing left behind: {exc}") from exc
        except BaseException:
            teardown(ledger)
            raise
        ledger.state = "up"
        ledger.save()
    converged = ledger.extra.get("converged_seconds")
    return UpResult(lab, len(objects), time.monotonic() - started, converged)


def check_name_overlap(name: str) -> None:
    """Lab names whose namespace prefixes nest (`a` and `a-node1`: knl-a-node1-… is both a
    node of one and the prefix of the other) could name the same namespace: refused while the
    other lab is up."""
    mine = netns_prefix(name)
    for other in known_labs():
        theirs = netns_prefix(other)
        if other != name and (mine.startswith(theirs) or theirs.startswith(mine)):
            raise UsageError(
                f"lab name {name!r} overlaps running lab {other!r} (namespaces {mine}… and "
                f"{theirs}…): choose a name that is not an extension of the other"
            )


def _check_free(lab: Lab) -> None:
    if Ledger.load(lab.name) is not None:
        raise UsageError(f"lab {lab.name!r} is already up: `kubenetlab lab down {lab.name}` first")
    check_name_overlap(lab.name)
    taken = [name for name in lab.all_netns if netns.exists(name)]
    if taken:
        owner = next((o for o in known_labs() if (led := Ledger.load(o)) and taken[0] in led.netns),
                     None)  # fmt: skip
        if owner:  # never advise `down --all` for what a running lab owns
            raise UsageError(f"namespace {taken[0]} belongs to running lab {owner!r}")
        raise UsageError(
            f"namespace {taken[0]} already exists and no running lab owns it (left by a crash): "
            "`kubenetlab lab down --all` removes such leftovers"
        )


@dataclass
class DownResult:
    labs: list[str]
    netns_removed: int
    processes_ended: int
    seconds: float


def teardown(ledger: Ledger) -> tuple[int, int]:
    """Stop the components in reverse order, end what else the lab started, remove its
    namespaces (and so their links), drop the ledger. Shielded: a signal arriving
    meanwhile is delivered once everything is gone."""
    with interrupt.shielded():
        running = sum(1 for p in ledger.processes if procs.is_running(p))
        if ledger.state == "up" and ledger.lab:
            _stop_components(ledger)
        stopped = running - sum(1 for p in ledger.processes if procs.is_running(p))
        removed, ended = _teardown(ledger)
        return removed, ended + stopped


def _stop_components(ledger: Ledger) -> None:
    try:
        lab = Lab.from_dict(ledger.lab)
    except (KeyError, TypeError, ValueError):
        return  # an unreadable ledger: the generic teardown below still ends everything
    for component in reversed(components_of(lab)):
        component.stop(lab, ledger)


def _teardown(ledger: Ledger) -> tuple[int, int]:
    ended = 0
    for entry in ledger.processes:
        if procs.end_recorded(entry):
            ended += 1
    # Anything else still inside (a `lab exec` shell, a process recorded but killed before its
    # PID was written, a Pod's containers) would keep the namespace and its veths alive.
    pods = ledger.pod_netns()
    for pid in procs_in(ledger.netns + pods):
        if not procs.visiting_cli(pid) and procs.end(pid, procs.start_time(pid)):
            ended += 1
    # Pods first, many at a time (leaves: in any order), then the rest in reverse order.
    recorded = set(ledger.netns)
    spec_pods = [p.get("netns") for p in ledger.lab.get("pods", []) if isinstance(p, dict)]
    leaves = pods + [name for name in spec_pods if name in recorded]
    removed = netns.remove_many(leaves)
    done = set(leaves)
    removed += sum(netns.remove(name) for name in reversed(ledger.netns) if name not in done)
    for path in ledger.cgroups:
        cgroups.remove(path)
    for path in ledger.mounts:  # pinned programs and maps go with their file system
        bpf.unmount_bpffs(path)
    ledger.remove()
    return removed, ended


def procs_in(names: list[str]) -> list[int]:
    return sorted(netns.processes_in(names))


def down(name: str) -> DownResult:
    preflight.require_root("lab down")
    started = time.monotonic()
    with exclusive():
        ledger = Ledger.load(name)
        if ledger is None:
            up_labs = ", ".join(known_labs()) or "none"
            raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
        removed, ended = teardown(ledger)
    return DownResult([name], removed, ended, time.monotonic() - started)


def down_all() -> DownResult:
    """Every ledger, then every `knl-` namespace no ledger claims (after a crash or kill -9)."""
    preflight.require_root("lab down")
    started = time.monotonic()
    labs: list[str] = []
    removed = ended = 0
    with exclusive():
        for name in known_labs():
            ledger = Ledger.load(name)
            if ledger is None:
                continue
            r, e = teardown(ledger)
            labs.append(name)
            removed, ended = removed + r, ended + e
        leftovers = [name for name in netns.list_netns() if name.startswith(NAME_PREFIX)]
        for pid in procs_in(leftovers):
            if not procs.visiting_cli(pid) and procs.end(pid, procs.start_time(pid)):
                ended += 1
        removed += netns.remove_many(leftovers)
        for path in cgroups.leftovers():
            cgroups.remove(path)
        remove_torn_ledger_writes()
        for mount in orphan_bpf_mounts():
            bpf.unmount_bpffs(mount)
        for state in orphan_state_dirs():
            shutil.rmtree(state, ignore_errors=True)
    return DownResult(labs, removed, ended, time.monotonic() - started)


def _proxy_implementation(lab: dict[str, Any]) -> str | None:
    """Which service proxy programs the nodes (renderer, upstream kube-proxy, eBPF)."""
    from kubenetlab.controlplane.kubeproxy import implementation

    try:
        return implementation(Lab.from_dict(lab))
    except (KeyError, TypeError, ValueError):
        return lab.get("proxy")


def status(name: str) -> dict[str, Any]:
    ledger = Ledger.load(name)
    if ledger is None:
        up_labs = ", ".join(known_labs()) or "none"
        raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
    if not ledger.lab.get("profile") or not isinstance(ledger.lab.get("nodes"), list):
        raise KnlError(
            f"the ledger of lab {name!r} ({ledger.path}) does not describe a lab (torn or "
            f"edited): `kubenetlab lab down {name}` removes what it lists"
        )
    return status_document(ledger)


def status_document(ledger: Ledger) -> dict[str, Any]:
    lab = ledger.lab
    missing = [name for name in ledger.netns if not netns.exists(name)]
    processes = [{**p.to_dict(), "alive": procs.is_running(p)} for p in ledger.processes]
    health = "ok" if ledger.state == "up" and not missing else "degraded"
    return {
        "schema_version": 1,
        "name": ledger.name,
        "state": ledger.state,
        "health": health,
        "missing_netns": missing,
        "profile": lab.get("profile"),
        "profile_options": lab.get("profile_options", {}),
        "underlay_cidr": lab.get("underlay_cidr"),
        "underlay_mtu": lab.get("underlay_mtu"),
        "pod_mtu": lab.get("pod_mtu"),
        "pod_cidr": lab.get("pod_cidr"),
        "service_cidr": lab.get("service_cidr"),
        "fabric_netns": lab.get("fabric_netns"),
        "nodes": [
            {k: n[k] for k in ("name", "underlay_ip", "pod_cidr", "netns")}
            for n in lab.get("nodes", [])
        ],
        "pods": [{k: p[k] for k in ("name", "node", "ip", "netns")} for p in lab.get("pods", [])],
        "proxy": lab.get("proxy"),
        "proxy_implementation": _proxy_implementation(lab),
        "proxy_options": lab.get("proxy_options", {}),
        "services": lab.get("services", []),
        "client": lab.get("client"),
        "gateway": lab.get("gateway"),
        "routes": [
            f"{(d.get('metadata') or {}).get('namespace', 'default')}/"
            f"{(d.get('metadata') or {}).get('name')}"
            for d in lab.get("routes", [])
            if d.get("kind") == "HTTPRoute"
        ],
        "processes": processes,
        "converged_seconds": ledger.extra.get("converged_seconds"),
        "routing": _component_status(ledger, "routing") if health == "ok" else {},
        "ebpf": _component_status(ledger, "ebpf-datapath") if health == "ok" else {},
        "control_plane": {
            **_component_status(ledger, "etcd"),
            **_component_status(ledger, "agents"),
            **_component_status(ledger, "kubernetes"),
            **_component_status(ledger, "kubelets"),
            **_component_status(ledger, "kube-proxy"),
            **_component_status(ledger, "proxy-agents"),
        }
        if health == "ok"
        else {},
        "created_at": ledger.created_at,
    }


def _component_status(ledger: Ledger, name: str) -> dict[str, Any]:
    """A component's live view (BGP sessions and learned routes); {} when it does not run."""
    try:
        lab = Lab.from_dict(ledger.lab)
        wanted = [c for c in components_of(lab) if c.name == name]
        return wanted[0].status(lab, ledger) if wanted else {}
    except (OSError, KnlError, UsageError) as exc:
        return {"error": str(exc)}


def kubeconfig_path(name: str) -> Path:
    """The admin kubeconfig of a lab running the upstream control plane."""
    ledger = Ledger.load(name)
    if ledger is None:
        up_labs = ", ".join(known_labs()) or "none"
        raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
    path = (ledger.extra.get("api_server") or {}).get("kubeconfig")
    if not path:
        raise UsageError(
            f"lab {name!r} has no API server: it runs with control_plane "
            f"{ledger.lab.get('control_plane')}; `lab up --control-plane kubernetes` makes one"
        )
    return Path(path)


def all_status() -> dict[str, Any]:
    docs = [status_document(ledger) for name in known_labs() if (ledger := Ledger.load(name))]
    return {"schema_version": 1, "labs": docs}
