"""The lab's BPF programs: C sources here, objects built on this machine and cached.

`clang -O2 -g -target bpf` against a `vmlinux.h` that bpftool dumps from this kernel's
BTF (CO-RE: no kernel headers, no BCC). The cache key covers the source, the kernel's
BTF and the compiler, so a new kernel or an edited program is rebuilt on first use;
`make setup` builds it once ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from shutil import which

from kubenetlab.errors import EnvironmentProblem, KnlError

SOURCE_DIR = Path(__file__).parent
BTF = Path("/sys/kernel/btf/vmlinux")
CACHE = Path(os.environ.get("KUBENETLAB_BPF_CACHE", "/var/cache/kubenetlab/bpf"))
PACKAGES = "clang llvm libbpf-dev bpftool"
FIX = f"apt-get install -y {PACKAGES} (or: make setup)"


def missing() -> list[str]:
    """What this machine lacks to build and load the programs ([] when nothing)."""
    out = [f"{cmd} (not installed)" for cmd in ("clang", "bpftool") if not which(cmd)]
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        out.append("libbpf headers (libbpf-dev)")
    if not BTF.exists():
        out.append(f"kernel BTF ({BTF}: a kernel built with CONFIG_DEBUG_INFO_BTF)")
    return out


def require() -> None:
    gaps = missing()
    if gaps:
        raise EnvironmentProblem(f"the eBPF proxy needs {', '.join(gaps)}: {FIX}")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def _run(argv: list[str], what: str, stdout: object = subprocess.PIPE) -> None:
    result = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True)  # type: ignore[call-overload]
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise KnlError(f"{what} failed: {lines[0] if lines else f'exit {result.returncode}'}")


def vmlinux_header() -> Path:
    key = _digest(BTF.read_bytes())
    header = CACHE / f"vmlinux-{key}" / "vmlinux.h"
    if not header.exists():
        header.parent.mkdir(parents=True, exist_ok=True)
        tmp = header.with_suffix(".tmp")
        with open(tmp, "w") as out:
            _run(
                ["bpftool", "btf", "dump", "file", str(BTF), "format", "c"], "bpftool btf dump", out
            )
        tmp.replace(header)
    return header


def object_file(name: str = "lb") -> Path:
    """The compiled object of `<name>.bpf.c`, built now if the cache has none for it."""
    require()
    source = SOURCE_DIR / f"{name}.bpf.c"
    header = vmlinux_header()
    clang = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout
    key = _digest(source.read_bytes(), header.parent.name.encode(), clang.encode())
    obj = CACHE / f"{name}-{key}.o"
    if not obj.exists():
        tmp = obj.with_suffix(f".{os.getpid()}.tmp")
        _run(
            ["clang", "-O2", "-g", "-Wall", "-target", "bpf", "-I", str(header.parent),
             "-c", str(source), "-o", str(tmp)],
            f"clang {source.name}",
        )  # fmt: skip
        tmp.replace(obj)
    return obj


if __name__ == "__main__":  # `make setup`: build ahead of the first lab
    print(object_file())
