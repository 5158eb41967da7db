"""Golden tests of the pure renderers: the exact kernel objects a lab spec produces.

Regenerate after an intended change with KNL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubenetlab.kernel.ledger import links_of
from kubenetlab.lab import render
from kubenetlab.plan import Netns, describe
from kubenetlab.routing.bgp import BgpRouting
from kubenetlab.spec import build_lab, load_spec_file

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"

CASES = {
    "two-node-vxlan": ("examples/two-node.yaml", {}),
    "two-node-vxlan-4789": (
        "examples/two-node.yaml",
        {"profile_options": {"port": 4789, "vni": 42}},
    ),
    "two-node-native": ("examples/two-node.yaml", {"profile": "native", "profile_options": {}}),
    "three-node-native-jumbo": ("examples/three-node.yaml", {}),
    "two-node-ipip": ("examples/two-node.yaml", {"profile": "ipip", "profile_options": {}}),
    # BGP: the plan has no inter-node route at all; BIRD installs them (golden-tested below).
    "two-node-bgp": ("examples/two-node.yaml", {"profile": "bgp", "profile_options": {}}),
}

BIRD_CASES = {
    "bird-mesh": {"nodes": 3},
    "bird-reflector": {"nodes": 3, "profile_options": {"reflector": "node2", "asn": 65010}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_plan_matches_golden(case: str) -> None:
    path, changes = CASES[case]
    lab = build_lab({**load_spec_file(ROOT / path), **changes})
    text = describe(render(lab))
    golden = DATA / f"{case}.txt"
    if os.environ.get("KNL_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_link_name_fits_ifnamsiz_and_carries_the_prefix() -> None:
    lab = build_lab({"nodes": 3, "pods_per_node": 253, "name": "a-very-long-lab-name-of-32-chars"})
    objects = render(lab)
    links = links_of(objects)
    assert len(links) == 1 + 3 * 2 + 3 * 253 * 2 + 3  # bridge, uplinks, pod veths, vxlan
    for link in links:
        assert len(link["ifname"]) <= 15 and link["ifname"].startswith("knl-"), link
        assert link["netns"].startswith("knl-a-very-long-lab-name-of-32-chars-")
    # Namespaces come first in the plan, so every link's namespace exists when it is made.
    first_other = next(i for i, o in enumerate(objects) if not isinstance(o, Netns))
    assert all(not isinstance(o, Netns) for o in objects[first_other:])


@pytest.mark.parametrize("case", sorted(BIRD_CASES))
def test_bird_configs_match_golden(case: str, tmp_path: Path) -> None:
    lab = build_lab({"name": "g", "profile": "bgp", **BIRD_CASES[case]})
    daemons = BgpRouting().daemons(lab)
    assert [d.netns for d in daemons] == [n.netns for n in lab.nodes]
    text = "".join(
        f"### {d.node}: {' '.join(d.argv)}\n" + "".join(d.files.values()) for d in daemons
    )
    golden = DATA / f"{case}.txt"
    if os.environ.get("KNL_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    for daemon in daemons:  # and BIRD itself accepts every file (`bird -p` only parses)
        conf = tmp_path / "bird.conf"
        conf.write_text(next(iter(daemon.files.values())))
        check = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    for daemon in daemons:  # and BIRD itself accepts every file (`bird -p` only parses)
        conf = tmp_path / "bird.conf"
        conf.write_text(next(iter(daemon.files.values())))
        check = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
