"""SIGINT, SIGTERM and SIGHUP as exceptions, so that every `with` block tears down what it
built on the way out; teardown itself runs shielded, so a second signal cannot cut it short.

Only SIGKILL skips this; `lab down --all` cleans up after that.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A termination signal arrived; like KeyboardInterrupt, not an error to catch."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


_received: list[int] = []


def _raise(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextmanager
def held_across_fork() -> Iterator[None]:
    """Block the termination signals in this thread while a child is forked and recorded:
    a signal that lands in an at-fork hook is printed as "Exception ignored … Traceback"
    and swallowed. A signal that arrives meanwhile is delivered when the block ends, after
    the child's PID is in the ledger. The child must unblock them before it execs
    (`unblock_in_child`): a blocked mask survives exec."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_in_child() -> None:
    """In a forked child before exec: the program gets the signals a shell would give it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def check() -> None:
    """Raise again a termination signal whose exception Python swallowed: one that lands in
    an at-fork hook (every subprocess start runs logging's) or a __del__, where exceptions
    are printed and ignored. Called after the steps that fork."""
    if _received and threading.current_thread() is threading.main_thread():
        raise Interrupted(_received[0])


def install() -> None:
    """Turn the termination signals into `Interrupted` (the command line calls this)."""
    for signum in SIGNALS:
        signal.signal(signum, _raise)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold termination signals while the block runs (teardown), then deliver the first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        signal.raise_signal(pending[0])  # now to the handler that was there before
