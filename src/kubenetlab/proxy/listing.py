"""What a node's kube-proxy state is, read from what the kernel lists (`iptables-save`,
`nft list table ip kube-proxy`), normalised so that two listings of the same rules compare
equal and any other difference shows — chain by chain, rule by rule (pure).

The normalisations, each for a reason kube-proxy gives:
- packet and byte counters, and `#` comments: runtime, not rules;
- iptables: the `KUBE-PROXY-CANARY` chains and the `mangle` table's empty built-in chains:
  made by kube-proxy's flush monitor outside its iptables-restore input;
- iptables: the order of rules inside the chains every Service adds to (nat KUBE-SERVICES,
  KUBE-NODEPORTS; filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS,
  KUBE-PROXY-FIREWALL): kube-proxy walks its Services in Go map order, different on every
  sync; they are compared as sorted lists, and the KUBE-NODEPORTS jump must still be
  the last rule of nat KUBE-SERVICES;
- nftables: the order of set and map elements (a set has none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COUNTERS = re.compile(r"\s*\[\d+:\d+\]$")
NFT_COUNTER = re.compile(r"\s*counter packets \d+ bytes \d+")
NODEPORTS_JUMP = "-j KUBE-NODEPORTS"
UNORDERED = {
    ("nat", "KUBE-SERVICES"), ("nat", "KUBE-NODEPORTS"), ("filter", "KUBE-SERVICES"),
    ("filter", "KUBE-EXTERNAL-SERVICES"), ("filter", "KUBE-NODEPORTS"),
    ("filter", "KUBE-PROXY-FIREWALL"),
}  # fmt: skip


@dataclass(frozen=True)
class Difference:
    where: str  # "nat KUBE-SERVICES", "chain services", "map service-ips"
    only_live: tuple[str, ...]
    only_rendered: tuple[str, ...]
    order_only: bool = False  # same lines, another order

    def describe(self) -> str:
        if self.order_only:
            return f"{self.where}: same rules in another order"
        lines = [f"{self.where}:"]
        lines += [f"  kube-proxy: {r}" for r in self.only_live]
        lines += [f"  rendered:   {r}" for r in self.only_rendered]
        return "\n".join(lines)


def iptables_chains(text: str) -> dict[str, list[str]]:
    """`table chain` → its rules, from iptables-save output, normalised."""
    out: dict[str, list[str]] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            out.setdefault(f"{table} {line[1:].split()[0]}", [])
        elif line.startswith("-A "):
            out.setdefault(f"{table} {line.split()[1]}", []).append(COUNTERS.sub("", line))
    for key in list(out):
        table, chain = key.split()
        if chain == "KUBE-PROXY-CANARY" or (table == "mangle" and not out[key]):
            del out[key]
        elif (table, chain) in UNORDERED:
            out[key] = _unordered(out[key], last=(table, chain) == ("nat", "KUBE-SERVICES"))
    return out


def _unordered(rules: list[str], last: bool) -> list[str]:
    """Sorted, keeping the KUBE-NODEPORTS jump last (kube-proxy: "this must be the last
    rule in this chain"); a listing where it is not last keeps a marker that differs."""
    tail = [r for r in rules if r.endswith(NODEPORTS_JUMP)] if last else []
    body = sorted(r for r in rules if r not in tail)
    if tail and rules[-1] not in tail:
        tail = [f"(not last) {t}" for t in tail]
    return body + tail


def nft_objects(text: str) -> dict[str, list[str]]:
    """`chain NAME` / `set NAME` / `map NAME` → its lines, from `nft list table` output;
    rules in order, elements sorted, counters dropped."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    body: list[str] = []
    for raw in text.splitlines():
        line = NFT_COUNTER.sub("", raw.strip())
        head = re.match(r"^(chain|set|map) (\S+) \{$", line)
        if head:
            current, body = f"{head.group(1)} {head.group(2)}", []
        elif line == "}" and current:
            out[current] = _nft_body(current, body)
            current = None
        elif current and line:
            body.append(line)
    return out


def _nft_body(kind: str, lines: list[str]) -> list[str]:
    if kind.startswith("chain"):
        return lines
    joined = " ".join(lines)
    head, _, rest = joined.partition("elements = {")
    elements = sorted(e.strip() for e in rest.rstrip().removesuffix("}").split(",") if e.strip())
    return [*head.split("  "), *elements] if elements else [head]


def compare(live: dict[str, list[str]], rendered: dict[str, list[str]]) -> list[Difference]:
    """Every chain, set or map whose content differs, in name order."""
    out = []
    for key in sorted(live.keys() | rendered.keys()):
        a, b = live.get(key), rendered.get(key)
        if a == b:
            continue
        a, b = a or [], b or []
        if sorted(a) == sorted(b):
            out.append(Difference(key, (), (), order_only=True))
            continue
        where = key if key in live else f"{key} (not in kube-proxy's)"
        where = where if key in rendered else f"{key} (not rendered)"
        out.append(Difference(
            where, tuple(r for r in a if r not in b), tuple(r for r in b if r not in a)
        ))  # fmt: skip
    return out
