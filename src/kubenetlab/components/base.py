"""What a component is: something a lab runs after its kernel objects exist.

Routing daemons, the service proxy, backends and health checks, the gateway (next: the
etcd store and node agents). Each one is a module here and one line in `COMPONENTS`;
`lab up` walks that list in order, `lab down` walks it backwards (as Mininet's
start()/stop()). Processes go through `kernel.procs` and are recorded in the ledger, so
a crash still leaves `lab down --all` everything it needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.model import Lab


class Component(ABC):
    name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]] = ()  # ledger roles of the processes it starts

    @abstractmethod
    def wanted(self, lab: Lab) -> bool:
        """Does this lab run the component at all?"""

    def tools(self, lab: Lab) -> tuple[tuple[str, str], ...]:
        """(command, Debian package) pairs it needs: exit 3 before anything is built."""
        return ()

    def plan(self, lab: Lab) -> Any:
        """Everything it will do, computed without touching the kernel (pure); bad input
        raises UsageError here, before the first object exists."""
        return None

    @abstractmethod
    def start(self, lab: Lab, ledger: Ledger, plan: Any) -> dict[str, Any]:
        """Bring it up; facts to keep in the ledger (timings) as a dict."""

    def status(self, lab: Lab, ledger: Ledger) -> dict[str, Any]:
        """Its live view for `lab status`; {} when it has nothing to add."""
        return {}

    def stop(self, lab: Lab, ledger: Ledger) -> None:
        """End its processes by PID; whatever is left goes with the lab's namespaces."""
        mine = [p for p in ledger.processes if p.role in self.roles]
        for entry in mine:
            if entry.pid:
                procs.end(entry.pid, entry.start_time)
        ledger.forget_processes(lambda p: p in mine)
