"""What a scenario is: settings (validated) → a plan that knows its step count → run →
a result that is a document (JSON with its kind).

A scenario is one module that defines `SCENARIO`, one line in `scenarios/__init__.py`,
and how its result is shown (a table, CSV, charts) in `report/`, registered in
`report/views.py` by kind; scenarios never import `report/`. The command line builds
`kubenetlab scenario NAME` from it, with `-o table|json|csv`, `--report DIR` and the
progress bar, the same for every scenario.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

OnStep = Callable[[str], None]

# The labs a run builds are named for the run (its PID): two runs at once — two
# terminals, two tests — never meet over a lab name.
RUN_ID = f"{os.getpid():x}"
_MAX_LAB_NAME = 32  # spec.LAB_NAME


def run_lab_name(*parts: str) -> str:
    """A lab name for this run: the parts joined by '-' (a stack's '+' made '-', as lab
    names do not allow it) and the run's id; a long one keeps its start and a digest of
    the whole, so names stay valid and distinct."""
    name = "-".join(parts).replace("+", "-")
    room = _MAX_LAB_NAME - len(RUN_ID) - 1
    if len(name) > room:
        digest = hashlib.sha1(name.encode()).hexdigest()[:5]
        name = f"{name[: room - 6].rstrip('-')}-{digest}"
    return f"{name}-{RUN_ID}"


class ScenarioReport(ABC):
    file_stem: ClassVar[str]  # its kind; --report DIR writes <stem>.json and <stem>.csv

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (with schema_version)."""

    @property
    def exit_code(self) -> int:
        """1 when a check the scenario makes failed."""
        return 0

    def document(self) -> dict[str, Any]:
        """What -o json prints and --report writes: the kind (for `kubenetlab report`), the
        scenario's own document, and where it was measured."""
        from kubenetlab.environment import environment

        return {"kind": self.file_stem, **self.to_dict(), "environment": environment()}

    def to_json(self) -> str:
        return json.dumps(self.document(), indent=2) + "\n"


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]  # its options, beside -o/--report
    settings: Callable[[argparse.Namespace], Any]  # validated; UsageError names the setting
    steps: Callable[[Any], int]  # how many times run() calls on_step
    run: Callable[[Any, OnStep | None], ScenarioReport]
    example: str = ""  # shown under --help
    # --dry-run: what the run would create, printed instead of running (None: run)
    preview: Callable[[Any, str], str | None] | None = None
