"""What a routing profile is: a pure renderer from the lab model to kernel objects.

A profile adds the inter-node part of the data path on top of `topology_plan`
(fabric, nodes, pods). Adding a profile is a new module and one line in
`routing/__init__.py`; no other profile changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubenetlab.errors import UsageError
from kubenetlab.model import Lab
from kubenetlab.plan import KernelObject


@dataclass(frozen=True)
class Daemon:
    """A routing daemon a profile runs in a node namespace (bird for `bgp`).

    `files` maps a file name in the lab's state directory to its content; `argv` refers
    to them as `{state}/NAME`, filled in when the lab starts it.
    """

    netns: str
    node: str
    role: str
    argv: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    creates: tuple[str, ...] = ()  # state files the daemon makes itself (a control socket)
    log: str | None = None  # state file that receives the daemon's stderr


class RoutingProfile(ABC):
    name: ClassVar[str]
    models: ClassVar[str]  # the CNI setup it stands for, as users name it
    encap_overhead: ClassVar[int]  # bytes per packet; the default pod MTU is underlay − this
    kernel_options: ClassVar[tuple[str, ...]] = ()  # CONFIG_… the profile needs
    tools: ClassVar[tuple[tuple[str, str], ...]] = ()  # (command, Debian package)
    option_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in; unknown keys and bad values raise UsageError."""
        unknown = sorted(set(options) - set(cls.option_defaults))
        if unknown:
            allowed = ", ".join(sorted(cls.option_defaults)) or "none"
            raise UsageError(
                f"profile {cls.name!r}: unknown option {unknown[0]!r} (allowed: {allowed})"
            )
        merged = {**cls.option_defaults, **options}
        cls.check_options(merged)
        return merged

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Override to check option values; raise UsageError."""
        return None

    @abstractmethod
    def plan(self, lab: Lab) -> list[KernelObject]:
        """Kernel objects for the inter-node data path, in creation order."""

    def daemons(self, lab: Lab) -> list[Daemon]:
        """Daemons that install the routes (pure). Static profiles have none."""
        return []
