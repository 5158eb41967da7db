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
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

OnStep = Callable[[str], None]


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
