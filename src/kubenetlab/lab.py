"""Lab lifecycle: up, down, down --all, status. Orchestrates render → kernel."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Any

from kubenetlab.errors import EnvironmentProblem, KnlError, UsageError
from kubenetlab.kernel import netns, preflight, procs
from kubenetlab.kernel.apply import ApplyError, apply
from kubenetlab.kernel.ledger import (
    Ledger,
    exclusive,
    known_labs,
    orphan_state_dirs,
    remove_torn_ledger_writes,
)
from kubenetlab.model import NAME_PREFIX, Lab
from kubenetlab.plan import KernelObject
from kubenetlab.report.progress import progress
from kubenetlab.routing import profile_class
from kubenetlab.topology import topology_plan


def render(lab: Lab) -> list[KernelObject]:
    """Everything the lab needs, in creation order (pure)."""
    return topology_plan(lab) + profile_class(lab.profile)().plan(lab)


@dataclass
class UpResult:
    lab: Lab
    objects: int
    seconds: float
    converged_seconds: float | None = None  # profiles whose routes come from a daemon


def up(lab: Lab) -> UpResult:
    preflight.require_root("lab up")
    cls = profile_class(lab.profile)
    preflight.require_kernel(cls.kernel_options, f"routing profile {cls.name!r}")
    preflight.require_tools(cls.tools)
    if lab.proxy:
        from kubenetlab.proxy import proxy as proxy_named

        preflight.require_tools(proxy_named(lab.proxy).tools)
    if lab.routes:
        from kubenetlab.gateway.runtime import NGINX

        preflight.require_tools(NGINX)
    objects = render(lab)
    daemons = cls().daemons(lab)
    converged: float | None = None
    started = time.monotonic()
    with exclusive():
        if Ledger.load(lab.name) is not None:
            raise UsageError(
                f"lab {lab.name!r} is already up: `kubenetlab lab down {lab.name}` first"
            )
        taken = [name for name in lab.all_netns if netns.exists(name)]
        if taken:
            raise UsageError(
                f"namespace {taken[0]} already exists (left by a crash?): "
                "`kubenetlab lab down --all` removes leftovers"
            )
        ledger = Ledger.begin(lab, objects)
        try:
            with progress(f"lab {lab.name}: building", len(objects)) as bar:
                apply(objects, on_step=bar.advance)
            if daemons:
                from kubenetlab import daemons as daemonsmod

                daemonsmod.start(daemons, ledger)
                converged = daemonsmod.wait_converged(lab, ledger)
                ledger.extra["converged_seconds"] = round(converged, 3)
            if lab.services:
                from kubenetlab import serviceplane

                ledger.extra["proxy_program_seconds"] = serviceplane.start(lab, ledger)
            if lab.gateway_netns:
                from kubenetlab.gateway import runtime

                runtime.start(lab, ledger)
        except ApplyError as exc:
            teardown(ledger)
            raise EnvironmentProblem(f"lab up failed, nothing left behind: {exc}") from exc

        except BaseException:
            teardown(ledger)
            raise
        ledger.state = "up"
        ledger.save()
    return UpResult(lab, len(objects), time.monotonic() - started, converged)


@dataclass
class DownResult:
    labs: list[str]
    netns_removed: int
    processes_ended: int
    seconds: float


def teardown(ledger: Ledger) -> tuple[int, int]:
    """End the lab's processes, remove its namespaces (and so their links), drop the ledger."""
    ended = 0
    for entry in ledger.processes:
        pid = entry.get("pid")
        if pid and procs.end(int(pid), entry.get("start_time")):
            ended += 1
    # Anything else still inside (a `lab exec` shell, a process recorded but killed before its
    # PID was written) would keep the namespace and its veths alive after the unmount.
    for pid in procs_in(ledger.netns):
        if procs.end(pid, procs.start_time(pid)):
            ended += 1
    removed = sum(netns.remove(name) for name in reversed(ledger.netns))
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
            if procs.end(pid, procs.start_time(pid)):
                ended += 1
        removed += sum(netns.remove(name) for name in leftovers)
        remove_torn_ledger_writes()
        for state in orphan_state_dirs():
            shutil.rmtree(state, ignore_errors=True)
    return DownResult(labs, removed, ended, time.monotonic() - started)


def status(name: str) -> dict[str, Any]:
    ledger = Ledger.load(name)
    if ledger is None:
        up_labs = ", ".join(known_labs()) or "none"
        raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
    return status_document(ledger)


def status_document(ledger: Ledger) -> dict[str, Any]:
    lab = ledger.lab
    missing = [name for name in ledger.netns if not netns.exists(name)]
    processes = [
        {
            **p,
            "alive": bool(p.get("pid")) and procs.start_time(int(p["pid"])) == p.get("start_time"),
        }
        for p in ledger.processes
    ]
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
        "routing": _routing_status(ledger) if health == "ok" else {},
        "created_at": ledger.created_at,
    }


def _routing_status(ledger: Ledger) -> dict[str, Any]:
    """The profile's live view (BGP sessions and learned routes); {} for static profiles."""
    try:
        lab = Lab.from_dict(ledger.lab)
        return profile_class(lab.profile)().runtime_status(lab, str(ledger.state_dir))
    except (OSError, KnlError, UsageError) as exc:
        return {"error": str(exc)}


def all_status() -> dict[str, Any]:
    docs = [status_document(ledger) for name in known_labs() if (ledger := Ledger.load(name))]
    return {"schema_version": 1, "labs": docs}


def load_lab(name: str) -> tuple[Lab, Ledger]:
    ledger = Ledger.load(name)
    if ledger is None or not ledger.lab:
        up_labs = ", ".join(known_labs()) or "none"
        raise UsageError(f"no lab named {name!r} is up (up: {up_labs})")
    return Lab.from_dict(ledger.lab), ledger


def member_netns(lab: Lab, member: str) -> str:
    """A pod or node name (or `fabric`) → its namespace."""
    if member == "fabric":
        return lab.fabric_netns
    if member == "client" and lab.client_netns:
        return lab.client_netns
    if member == "gateway" and lab.gateway_netns:
        return lab.gateway_netns
    for item in (*lab.pods, *lab.nodes):
        if item.name == member:
            return item.netns
    names = ", ".join(p.name for p in lab.pods[:6])
    raise UsageError(f"lab {lab.name!r} has no pod or node {member!r} (pods: {names}…)")
