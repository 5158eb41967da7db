"""`helm install|upgrade|template …` command lines → chart, version and the values they set.

`--set` follows Helm's strvals rules for what people write: dotted keys (`a.b=c`,
`\\.` escapes a dot), several pairs per flag split on commas, `{a,b}` lists, `a[0]=x`
indexes, and Helm's typing of `--set` values (true/false/null/integers); `--set-string`
keeps strings. `-f/--values FILE` values are merged in order, then the sets on top.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.errors import UsageError
from kubenetlab.inputs import load_yaml

VALUE_FLAGS = {"--set", "--set-string", "--values", "-f", "--set-json", "--set-file"}
FLAGS_WITH_ARG = {
    "--version",
    "--namespace",
    "-n",
    "--repo",
    "--timeout",
    "--kube-context",
    "--kubeconfig",
    "--description",
    "--post-renderer",
    "--output",
    "-o",
    "--username",
    "--password",
    "--ca-file",
    "--cert-file",
    "--key-file",
    "--devel-version",
    "--history-max",
    "--registry-config",
}
INDEX = re.compile(r"^(.*)\[(\d+)\]$")


@dataclass
class HelmCommand:
    text: str
    subcommand: str
    release: str | None
    chart: str | None
    version: str | None
    namespace: str | None
    values: dict[str, Any] = field(default_factory=dict)
    set_flags: list[tuple[str, str, str]] = field(default_factory=list)  # (flag, key, raw value)
    other_args: list[str] = field(default_factory=list)

    def flag_for(self, dotted: str) -> str | None:
        """The `--set key=value` that set `dotted` (or a key below it), as written."""
        for flag, key, raw in self.set_flags:
            if key == dotted or key.startswith(dotted + "."):
                return f"{flag} {key}={raw}"
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, depth, i = [], "", 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def _typed(raw: str, as_string: bool) -> Any:
    if raw.startswith("{") and raw.endswith("}"):
        return [_typed(v, as_string) for v in _split_unescaped(raw[1:-1], ",") if v != ""]
    raw = raw.replace("\\,", ",").replace("\\.", ".")
    if as_string:
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if re.fullmatch(r"-?[1-9]\d*|0", raw):
        return int(raw)
    return raw


def _assign(values: dict[str, Any], key: str, value: Any) -> None:
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", key)]
    node: Any = values
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        m = INDEX.match(part)
        if m:
            name, idx = m.group(1), int(m.group(2))
            seq = node.setdefault(name, [])
            while len(seq) <= idx:
                seq.append({} if not last else None)
            if last:
                seq[idx] = value
            else:
                if not isinstance(seq[idx], dict):
                    seq[idx] = {}
                node = seq[idx]
            continue
        if last:
            node[part] = value
        else:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse(text: str, base_dir: Path | None = None) -> HelmCommand:
    try:
        argv = shlex.split(text.replace("\\\n", " "))
    except ValueError as exc:
        raise UsageError(f"--helm-command: cannot split the command line: {exc}") from None
    if argv and argv[0].endswith("helm"):
        argv = argv[1:]
    if not argv or argv[0] not in ("install", "upgrade", "template"):
        raise UsageError("--helm-command must be `helm install|upgrade|template NAME CHART …`")
    cmd = HelmCommand(
        text=text, subcommand=argv[0], release=None, chart=None, version=None, namespace=None
    )
    positional: list[str] = []
    values_files: list[dict[str, Any]] = []
    sets: list[tuple[str, str]] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        flag, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag in VALUE_FLAGS | FLAGS_WITH_ARG:
            value = inline if inline else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise UsageError(f"--helm-command: {flag} needs a value")
            i += 1 if inline else 2
            if flag == "--version":
                cmd.version = value
            elif flag in ("--namespace", "-n"):
                cmd.namespace = value
            elif flag in ("--values", "-f"):
                values_files.append(_values_file(value, base_dir))
            elif flag in ("--set", "--set-string"):
                sets.append((flag, value))
            else:
                cmd.other_args += [flag, value]
            continue
        if arg.startswith("-"):
            cmd.other_args.append(arg)
        else:
            positional.append(arg)
        i += 1
    if cmd.subcommand == "install" and "--generate-name" in cmd.other_args:
        positional.insert(0, "")
    cmd.release = positional[0] if positional else None
    cmd.chart = positional[1] if len(positional) > 1 else None
    values: dict[str, Any] = {}
    for v in values_files:
        values = merge(values, v)
    for flag, spec in sets:
        for pair in _split_unescaped(spec, ","):
            key, sep, raw = pair.partition("=")
            if not sep or not key:
                raise UsageError(f"--helm-command: {flag} {spec!r}: expected key=value")
            _assign(values, key, _typed(raw, flag == "--set-string"))
            cmd.set_flags.append((flag, key, raw))
    cmd.values = values
    return cmd


def _values_file(name: str, base_dir: Path | None) -> dict[str, Any]:
    path = Path(name) if base_dir is None or Path(name).is_absolute() else base_dir / name
    try:
        data = load_yaml(path)
    except UsageError as exc:
        raise UsageError(f"--helm-command: values file {exc.message}") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"--helm-command: values file {name}: not a mapping of Helm values")
    return data or {}
