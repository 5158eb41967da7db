"""What `iptables-restore --test` would refuse in an iptables-save text, by line (pure).

iptables-restore reads a table header (`*nat`), chain declarations (`:NAME POLICY
[packets:bytes]`), rules (`-A CHAIN …`) and a `COMMIT` that ends the table; it refuses a
rule outside a table, a table opened twice or never committed (a truncated file), a rule
in a chain the table does not declare, unbalanced quotes, and an option given without
its argument. Those are the checks here; what each match module accepts is iptables'
own business (a wrong value is its error, not a syntax error of the file).
"""

from __future__ import annotations

import re
import shlex

BUILTIN = {
    "filter": {"INPUT", "FORWARD", "OUTPUT"},
    "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
    "mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
    "raw": {"PREROUTING", "OUTPUT"},
    "security": {"INPUT", "FORWARD", "OUTPUT"},
}
# options of iptables and of the matches/targets kube-proxy and CNIs write that take a value
WITH_ARGUMENT = {
    "-A", "-I", "-s", "--source", "-d", "--destination", "-i", "--in-interface", "-o",
    "--out-interface", "-p", "--protocol", "-j", "--jump", "-g", "--goto", "-m", "--match",
    "--comment", "--dport", "--sport", "--dports", "--sports", "--to-destination",
    "--to-source", "--to-ports", "--probability", "--mode", "--every", "--packet",
    "--set-xmark", "--set-mark", "--or-mark", "--xor-mark", "--and-mark", "--mark",
    "--name", "--seconds", "--hitcount", "--mask", "--src-type", "--dst-type", "--ctstate",
    "--state", "--nfacct-name", "--reject-with", "--match-set", "--set-class", "--tcp-flags",
    "--log-prefix", "--limit", "--limit-burst",
}  # fmt: skip
NEEDS_TWO = {"--match-set", "--tcp-flags"}
CHAIN_LINE = re.compile(r"^:(\S+)\s+(\S+)(\s+\[\d+:\d+\])?\s*$")


def problems(text: str) -> list[tuple[int, str]]:
    """(line, problem) for every line iptables-restore would refuse; [] when it would not."""
    out: list[tuple[int, str]] = []
    table: str | None = None
    opened = 0
    seen: set[str] = set()
    chains: set[str] = set()
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            name = line[1:].strip()
            if table is not None:
                out.append((n, f"table {name} opened before table {table} (line {opened}) has its COMMIT"))
            if name in seen:
                out.append((n, f"table {name} appears twice"))
            table, opened, chains = name, n, set(BUILTIN.get(name, set()))
            seen.add(name)
        elif line == "COMMIT":
            if table is None:
                out.append((n, "COMMIT outside a table"))
            table = None
        elif line.startswith(":"):
            m = CHAIN_LINE.match(line)
            if table is None:
                out.append((n, "chain declared outside a table (no *table line before it)"))
            elif not m:
                out.append((n, f"bad chain line {line[:60]!r} (want :NAME POLICY [packets:bytes])"))
            else:
                chains.add(m.group(1))
        elif line.startswith("-"):
            if table is None:
                out.append((n, "rule outside a table (no *table line before it)"))
                continue
            out += [(n, p) for p in _rule_problems(line, chains)]
        else:
            out.append((n, f"not an iptables-save line: {line[:60]!r}"))
    if table is not None:
        out.append((opened, f"table {table} has no COMMIT (a truncated file?)"))
    return out


def _rule_problems(line: str, chains: set[str]) -> list[str]:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return [f"unbalanced quotes ({exc})"]
    if words[0] not in ("-A", "-I") or len(words) < 2:
        return [f"a rule starts with -A CHAIN, not {' '.join(words[:2])!r}"]
    out = []
    if words[1] not in chains:
        out.append(f"chain {words[1]} is not declared in this table")
    i = 2
    while i < len(words):
        word = words[i]
        if word in WITH_ARGUMENT:
            takes = 2 if word in NEEDS_TWO else 1
            args = words[i + 1 : i + 1 + takes]
            if len(args) < takes or any(_is_option(a) for a in args):
                out.append(f"option {word} needs an argument")
            i += 1 + takes
        else:
            i += 1
    return out


def _is_option(word: str) -> bool:
    """An option name, not a value (values can start with "-" only as negative numbers)."""
    return word.startswith("-") and not word.lstrip("-").replace(".", "").isdigit()
