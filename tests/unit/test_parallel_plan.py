"""How a plan is split for parallel building: every pod's objects in its own group, in
plan order; nothing shared names a group's link; ifindexes decided once for the plan."""

from __future__ import annotations

from kubenetlab.kernel.apply import FIRST_ASSIGNED_IFINDEX, assign_indexes
from kubenetlab.kernel.parallel import split
from kubenetlab.lab import render
from kubenetlab.plan import Netns, Veth
from kubenetlab.spec import build_lab


def _plan(profile: str) -> list:
    spec = {"name": "p", "profile": profile, "nodes": 3, "pods_per_node": 4,
            "services": [{"name": "a", "port": 80, "replicas": 2}]}  # fmt: skip
    return render(build_lab(spec))


def test_each_pod_is_one_group_and_shared_objects_never_name_its_links() -> None:
    for profile in ("native", "vxlan", "bgp"):
        objects = _plan(profile)
        shared, groups = split(objects)
        assert len(groups) == 12 and sum(map(len, groups)) + len(shared) == len(objects)
        order = {id(o): i for i, o in enumerate(objects)}
        for group in groups:
            assert isinstance(group[0], Netns) and group[0].name.rsplit("-", 1)[1].startswith("pod")
            assert [order[id(o)] for o in group] == sorted(order[id(o)] for o in group)
            veth = next(o for o in group if isinstance(o, Veth))
            assert veth.peer_netns == group[0].name
            spaces = {getattr(o, "netns", None) for o in group[1:]}
            assert spaces == {group[0].name, veth.netns}  # the pod, and its node's end
        links = {(o.netns, o.ifname) for g in groups for o in g if isinstance(o, Veth)}
        for o in shared:
            ref = (getattr(o, "netns", ""), getattr(o, "ifname", None) or getattr(o, "dev", None))
            assert ref not in links, o.describe()
        # Namespaces that hold more than a pod (fabric, nodes, client) are shared.
        assert {o.name for o in shared if isinstance(o, Netns)} == {
            "knl-p-fabric", "knl-p-node1", "knl-p-node2", "knl-p-node3", "knl-p-client"}  # fmt: skip


def test_ifindexes_are_unique_per_namespace_and_follow_plan_order() -> None:
    assigned = assign_indexes(_plan("vxlan"))
    node1 = sorted((i, name) for (ns, name), i in assigned.items() if ns == "knl-p-node1")
    assert node1[0] == (FIRST_ASSIGNED_IFINDEX, "knl-up")
    assert [name for _, name in node1[1:5]] == ["knl-p1", "knl-p2", "knl-p3", "knl-p4"]
    per_ns: dict[str, list[int]] = {}
    for (ns, _), index in assigned.items():
        per_ns.setdefault(ns, []).append(index)
    assert all(len(v) == len(set(v)) for v in per_ns.values())
