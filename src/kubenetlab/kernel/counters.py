"""The kernel's IP/ICMP/TCP counters inside a namespace: what `nstat` reads.

/proc/net/snmp is per network namespace; /proc/thread-self/net follows the thread's
namespace, which `netns.inside` switched. Keys are `Group.Name` (`Ip.FragCreates`),
as nstat prints them without its `Ip`/`Icmp` prefixes merged.
"""

from __future__ import annotations

from kubenetlab.kernel import netns


def parse_snmp(text: str) -> dict[str, int]:
    """Header/value line pairs (`Ip: Forwarding …` then `Ip: 1 …`) → {"Ip.Forwarding": 1}."""
    counters: dict[str, int] = {}
    lines = text.splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        group, names = header.split(":", 1)
        _, numbers = values.split(":", 1)
        for name, number in zip(names.split(), numbers.split(), strict=True):
            counters[f"{group}.{name}"] = int(number)
    return counters


def snmp(ns: str) -> dict[str, int]:
    with netns.inside(ns), open("/proc/thread-self/net/snmp") as f:
        return parse_snmp(f.read())


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
