"""What a scenario is: settings (validated) → a plan that knows its step count → run →
a report that prints as a table, JSON or CSV and draws its charts.

A scenario is one module (plus its report module under `report/`) that defines
`SCENARIO`, and one line in `scenarios/__init__.py`. The command line builds
`kubenetlab scenario NAME` from it, with `-o table|json|csv`, `--report DIR` and the
progress bar, the same for every scenario.
"""

from __future__ import annotations

import argparse
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

OnStep = Callable[[str], None]


class ScenarioReport(ABC):
    file_stem: ClassVar[str]  # --report DIR writes <stem>.json and <stem>.csv

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (with schema_version)."""

    @abstractmethod
    def table(self, wide: bool = False) -> None:
        """Print the human-readable table to stdout (`wide`: -o wide, every column)."""

    @abstractmethod
    def to_csv(self) -> str: ...

    def charts(self, directory: Path) -> list[Path]:
        """PNG charts written into `directory`; none by default."""
        return []

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

    def write(self, directory: str | Path) -> list[Path]:
        """`--report DIR`: the JSON, the CSV and the charts, the directory made if missing."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / f"{self.file_stem}.json", out / f"{self.file_stem}.csv"]
        written[0].write_text(self.to_json())
        written[1].write_text(self.to_csv())
        return written + self.charts(out)


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]  # its options, beside -o/--report
    settings: Callable[[argparse.Namespace], Any]  # validated; UsageError names the setting
    steps: Callable[[Any], int]  # how many times run() calls on_step
    run: Callable[[Any, OnStep | None], ScenarioReport]
    example: str = ""  # shown under --help
