"""Stack names compare takes: a routing profile, a named CNI setup, or either `+PROXY` —
the same data path with another service proxy (what changing kube-proxy's mode does)."""

from __future__ import annotations

import pytest

from kubenetlab import stacks
from kubenetlab.errors import UsageError
from kubenetlab.scenarios.compare import CompareSettings, _lab_part


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

    names = ["flannel+nftables", "calico-ipip+iptables", "calico-ipip+iptables-legacy"]
    parts = [_lab_part(n) for n in names]
    assert len(set(parts)) == len(parts)
    for part in parts:
        assert re.fullmatch(LAB_NAME, f"cmp-{part}-1a2b3c"), part
