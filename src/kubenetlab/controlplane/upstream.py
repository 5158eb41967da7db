"""Where the upstream programs `make setup` builds live, and which versions they are.

scripts/build-upstream.sh builds the releases pinned in third_party/*/go.mod into
$KNL_UPSTREAM_DIR/<project>-<version>-<go version>/ (default /var/cache/kubenetlab/upstream);
this module finds them. The pins are repeated here so an installed kubenetlab knows what it
asks for; a unit test holds them equal to the wrapper modules.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubenetlab.errors import EnvironmentProblem

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"

PROGRAMS = {
    "kube-apiserver": ("kubernetes", KUBERNETES_VERSION),
    "kube-controller-manager": ("kubernetes", KUBERNETES_VERSION),
    "kube-scheduler": ("kubernetes", KUBERNETES_VERSION),
    "kube-proxy": ("kubernetes", KUBERNETES_VERSION),
    "kubectl": ("kubernetes", KUBERNETES_VERSION),
    "etcd": ("etcd", ETCD_VERSION),
    "etcdctl": ("etcd", ETCD_VERSION),
}


def cache_dir() -> Path:
    return Path(os.environ.get("KNL_UPSTREAM_DIR", "/var/cache/kubenetlab/upstream"))


def build_dir(project: str, version: str) -> Path | None:
    """The finished build of project@version (any Go version; the newest build wins)."""
    found = [d for d in cache_dir().glob(f"{project}-{version}-go*") if (d / ".built").is_file()]
    return max(found, key=lambda d: d.stat().st_mtime) if found else None


def program(name: str) -> Path:
    """The path of an upstream program, or exit 3 with the command that builds it."""
    project, version = PROGRAMS[name]
    directory = build_dir(project, version)
    path = directory / name if directory else None
    if path is None or not os.access(path, os.X_OK):
        raise EnvironmentProblem(
            f"{name} {version} is not built: run `make setup` (it builds {project} {version} "
            "from the Go module proxy; about 15 minutes the first time)"
        )
    return path


def versions() -> dict[str, str]:
    """program → "vX.Y.Z (path)" or "not built", for `kubenetlab version`."""
    out = {}
    for name, (project, version) in PROGRAMS.items():
        directory = build_dir(project, version)
        out[name] = f"{version} ({directory / name})" if directory else f"{version}: not built"
    return out
