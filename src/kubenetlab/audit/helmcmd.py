"""`helm install|upgrade|template …` command lines → chart, version and the values they set.

`--set` follows Helm's strvals rules for what people write: dotted keys (`a.b=c`,
`\\.` escapes a dot), several pairs per flag split on commas, `{a,b}` lists, `a[0]=x`
indexes (negative refused, at most 65536, names nested at most 30 deep, as strvals), and
Helm's typing of `--set` values (true/false/null/integers); `--set-string` keeps strings,
`--set-json` takes JSON values, `--set-file` a file's text, `--set-literal` the rest of
the argument verbatim. Helm's order (pkg/cli/values): `-f/--values` files merged in order,
then every --set-json, --set, --set-string, --set-file, --set-literal — by kind, not by
position on the command line.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenetlab.errors import UsageError
from kubenetlab.inputs import load_yaml, read_text

SET_FLAGS = ("--set-json", "--set", "--set-string", "--set-file", "--set-literal")  # Helm's order
VALUE_FLAGS = {"--values", "-f", *SET_FLAGS}
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
INDEXES = re.compile(r"^(.*?)((?:\[-?\d+\])+)$")
MAX_INDEX = 65536  # Helm strvals.MaxIndex
MAX_NESTED_NAME_LEVEL = 30  # Helm strvals.MaxNestedNameLevel
# What `helm --version` takes: a version or a semver constraint (`~1.15`, `>=1.14 <1.16`).
VERSION_CONSTRAINT = re.compile(
    r"^\s*(?:(?:[<>=!~^]{0,2}\s*v?\d+(?:\.(?:\d+|[xX*]))*(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
    r"|[xX*])\s*(?:,|\|\||\s)*\s*)+$"
)


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


def _key_parts(key: str) -> list[tuple[str, list[int]]]:
    """`a.b[0][1].c` → [("a", []), ("b", [0, 1]), ("c", [])], with strvals' limits."""
    parts = []
    for raw in re.split(r"(?<!\\)\.", key):
        name, indexes = raw, []
        if m := INDEXES.match(raw):
            name = m.group(1)
            indexes = [int(i) for i in re.findall(r"-?\d+", m.group(2))]
        for idx in indexes:
            if idx < 0:
                raise UsageError(f"--helm-command: {key}: negative {idx} index not allowed")
            if idx > MAX_INDEX:
                raise UsageError(
                    f"--helm-command: {key}: index of {idx} is greater than maximum supported "
                    f"index of {MAX_INDEX}"
                )
        parts.append((name.replace("\\.", "."), indexes))
    if len(parts) > MAX_NESTED_NAME_LEVEL:
        raise UsageError(
            f"--helm-command: {key[:60]}…: value name nested level is greater than maximum "
            f"supported nested level of {MAX_NESTED_NAME_LEVEL}"
        )
    return parts


def _assign(values: dict[str, Any], key: str, value: Any) -> None:
    parts = _key_parts(key)
    node: Any = values
    for i, (name, indexes) in enumerate(parts):
        last = i == len(parts) - 1
        if not indexes:
            if last:
                node[name] = value
            else:
                if not isinstance(node.get(name), dict):
                    node[name] = {}
                node = node[name]
            continue
        if not isinstance(node.get(name), list):
            node[name] = []
        seq = node[name]
        for depth, idx in enumerate(indexes):
            innermost = depth == len(indexes) - 1
            while len(seq) <= idx:
                seq.append(None)
            if innermost:
                if last:
                    seq[idx] = value
                else:
                    if not isinstance(seq[idx], dict):
                        seq[idx] = {}
                    node = seq[idx]
            else:
                if not isinstance(seq[idx], list):
                    seq[idx] = []
                seq = seq[idx]


def _json_pairs(spec: str) -> list[tuple[str, str, Any]]:
    """`--set-json` pairs: key=<JSON value>, several separated by commas (strvals.ParseJSON)."""
    decoder = json.JSONDecoder()
    out, rest = [], spec
    while rest:
        key, sep, tail = rest.partition("=")
        if not sep or not key or "," in key:
            raise UsageError(f"--helm-command: --set-json {spec!r}: expected key=<JSON value>")
        stripped = tail.lstrip()
        try:
            value, end = decoder.raw_decode(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--helm-command: --set-json {key}: not a JSON value ({exc.msg} at char {exc.pos})"
            ) from None
        raw = stripped[:end]
        rest = stripped[end:].lstrip()
        if rest and not rest.startswith(","):
            raise UsageError(f"--helm-command: --set-json {key}: text after the JSON value")
        rest = rest[1:]
        out.append((key, raw, value))
    return out


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
                if not VERSION_CONSTRAINT.match(value):
                    raise UsageError(
                        f"--helm-command: --version {value!r} is neither a version nor a "
                        "version constraint (such as 1.16.2 or ~1.16)"
                    )
                cmd.version = value
            elif flag in ("--namespace", "-n"):
                cmd.namespace = value
            elif flag in ("--values", "-f"):
                values_files.append(_values_file(value, base_dir))
            elif flag in SET_FLAGS:
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
    for kind in SET_FLAGS:
        for flag, spec in sets:
            if flag == kind:
                _apply_set(values, cmd, flag, spec, base_dir)
    cmd.values = values
    return cmd


def _apply_set(
    values: dict[str, Any], cmd: HelmCommand, flag: str, spec: str, base_dir: Path | None
) -> None:
    if flag == "--set-json":
        for key, raw, value in _json_pairs(spec):
            _assign(values, key, value)
            cmd.set_flags.append((flag, key, raw))
        return
    # --set-literal: the whole rest of the argument is the value, commas and braces included.
    pairs = [spec] if flag == "--set-literal" else _split_unescaped(spec, ",")
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--helm-command: {flag} {spec!r}: expected key=value")
        if flag == "--set-file":
            value: Any = _file_text(raw, base_dir)
        elif flag == "--set-literal":
            value = raw
        else:
            value = _typed(raw, flag == "--set-string")
        _assign(values, key, value)
        cmd.set_flags.append((flag, key, raw))


def _path(name: str, base_dir: Path | None) -> Path:
    """A file the command names, relative to where the command was written down."""
    return Path(name) if base_dir is None or Path(name).is_absolute() else base_dir / name


def _file_text(name: str, base_dir: Path | None) -> str:
    try:
        return read_text(_path(name, base_dir))
    except UsageError as exc:
        raise UsageError(f"--helm-command: --set-file {exc.message}") from None


def _values_file(name: str, base_dir: Path | None) -> dict[str, Any]:
    try:
        data = load_yaml(_path(name, base_dir))
    except UsageError as exc:
        raise UsageError(f"--helm-command: values file {exc.message}") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"--helm-command: values file {name}: not a mapping of Helm values")
    return data or {}
