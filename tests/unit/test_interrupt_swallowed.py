"""A termination signal whose exception Python swallows (it lands in an at-fork hook or a
__del__) is raised again by interrupt.check(), so `lab up` still tears down."""

from __future__ import annotations

import gc
import signal

import pytest

from kubenetlab import interrupt


class _SignalsInDel:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGTERM)  # the handler's exception is ignored here


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_signal_is_raised_by_check() -> None:
    previous = signal.signal(signal.SIGTERM, interrupt._raise)
    try:
        obj = _SignalsInDel()
        del obj  # prints "Exception ignored in ..." and carries on
        gc.collect()
        with pytest.raises(interrupt.Interrupted) as caught:
            interrupt.check()
        assert caught.value.exit_code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupt._received.clear()
    interrupt.check()  # nothing pending: no exception
