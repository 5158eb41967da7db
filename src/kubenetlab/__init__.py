"""kubenetlab: Kubernetes network data paths built for real in network namespaces."""

import _signal  # the C module `signal` wraps: the handler is in place before `signal`'s
import os  # enum import (tens of milliseconds on a busy machine) could be interrupted
import sys

__version__ = "0.1.0"


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Nothing is built before the command runs; one line and the shell's 128+n, not a
    # traceback from whichever import the signal landed in.
    name = {2: "SIGINT", 15: "SIGTERM"}.get(signum, f"signal {signum}")
    sys.stderr.write(f"kubenetlab: interrupted ({name}) while starting; nothing was built\n")
    os._exit(128 + signum)


def _is_the_command() -> bool:
    """`kubenetlab …` or `python -m kubenetlab …`; not a program importing the package
    (pytest) nor a lab helper (`python -m kubenetlab.agent`, …)."""
    if sys.argv and os.path.basename(sys.argv[0]) == "kubenetlab":
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return "-m" in orig[:-1] and orig[orig.index("-m") + 1] == "kubenetlab"


# cli.main() installs the real handlers once the command line is parsed.
if _is_the_command():
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
