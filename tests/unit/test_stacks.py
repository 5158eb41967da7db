"""Stack names compare takes: a routing profile, a named CNI setup, or either `+PROXY` —
the same data path with another service proxy (what changing kube-proxy's mode does)."""

from __future__ import annotations

import pytest

from kubenetlab import stacks
from kubenetlab.errors import UsageError
from kubenetlab.scenarios.base import RUN_ID, run_lab_name
from kubenetlab.scenarios.compare import CompareSettings


def test_a_stack_with_another_proxy_keeps_its_routing() -> None:
    swapped = stacks.resolve("flannel+nftables")
    assert (swapped.routing, swapped.proxy) == ("vxlan", "nftables")
    assert swapped.models.startswith("Flannel VXLAN") and "instead of iptables" in swapped.models
    assert stacks.resolve("native+ebpf").proxy == "ebpf"
    for bad in ("flannel+bogus", "bogus+iptables"):
        with pytest.raises(KeyError):
            stacks.resolve(bad)
    with pytest.raises(UsageError, match="unknown profile 'flannel\\+bogus'"):
        CompareSettings(profiles=("flannel+bogus",))


def test_lab_names_of_swapped_stacks_are_valid_and_distinct() -> None:
    import re

    from kubenetlab.spec import LAB_NAME

    names = ["flannel+nftables", "calico-ipip+iptables", "calico-ipip+iptables-legacy",
             "calico-ipip+iptables-legacy2"]  # fmt: skip
    made = [run_lab_name("cmp", n) for n in names]
    assert len(set(made)) == len(made), made
    for name in made:
        assert re.fullmatch(LAB_NAME, name) and name.endswith(f"-{RUN_ID}"), name
    assert run_lab_name("cmp", "flannel+nftables") == f"cmp-flannel-nftables-{RUN_ID}"
    assert run_lab_name("mtu", "calico-ipip", "misaligned").startswith("mtu-calico-ipip-")
