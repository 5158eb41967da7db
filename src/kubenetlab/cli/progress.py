"""Progress bars on stderr (never stdout, which carries data); silent when not a TTY."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True)


class Step:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def set(self, description: str, done: int, total: int) -> None:
        """For work in phases of their own size (reading characters, then checking objects)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, description=description, completed=done, total=total, visible=True
            )

    def describe(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)


@contextmanager
def progress(description: str, total: int, hidden: bool = False) -> Iterator[Step]:
    """A bar for `total` steps; `hidden` until the first Step.set (work that is
    usually too short for a bar)."""
    if not sys.stderr.isatty():
        yield Step(None, None)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        yield Step(bar, bar.add_task(description, total=total, visible=not hidden))


def log(message: str) -> None:
    stderr.print(message, highlight=False, soft_wrap=True)
