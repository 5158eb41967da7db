"""Can this machine run the command? Exit 3 with the exact fix when it cannot."""

from __future__ import annotations

import gzip
import os
import platform
import shutil
from pathlib import Path

from kubenetlab.errors import EnvironmentProblem


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"{command} changes network namespaces and needs root: "
            f"run `sudo kubenetlab {command} …`"
        )


def require_tools(tools: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> None:
    """tools: (command, Debian package) pairs."""
    for command, package in tools:
        if shutil.which(command) is None:
            raise EnvironmentProblem(f"`{command}` is not installed: apt-get install -y {package}")


def kernel_config() -> dict[str, str] | None:
    """CONFIG_* → y|m from /proc/config.gz or /boot/config-<release>; None if neither exists."""
    text = None
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        boot = Path(f"/boot/config-{platform.release()}")
        if boot.exists():
            text = boot.read_text()
    if text is None:
        return None
    config: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            config[key] = value
    return config


def missing_kernel_options(options: tuple[str, ...] | list[str]) -> list[str]:
    """Options the running kernel lacks; unknown (no config readable) counts as present."""
    config = kernel_config()
    if config is None:
        return []
    return [opt for opt in options if config.get(opt) not in ("y", "m")]


def require_kernel(options: tuple[str, ...] | list[str], feature: str) -> None:
    missing = missing_kernel_options(options)
    if missing:
        raise EnvironmentProblem(
            f"{feature} needs {', '.join(missing)}, which kernel {platform.release()} "
            "was built without: use a kernel with " + " and ".join(f"{m}=y or =m" for m in missing)
        )
