"""kubenetlab: Kubernetes network data paths built for real in network namespaces."""

import os
import signal
import sys

__version__ = "0.1.0"


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Nothing is built before the command runs; one line and the shell's 128+n, not a
    # traceback from whichever import the signal landed in.
    name = signal.Signals(signum).name
    sys.stderr.write(f"kubenetlab: interrupted ({name}) while starting; nothing was built\n")
    os._exit(128 + signum)


# Only when this process is the command (`kubenetlab …`, `python -m kubenetlab`), never when
# a program (pytest) imports the package; cli.main() installs the real handlers.
if os.path.basename(sys.argv[0] if sys.argv else "") in ("kubenetlab", "-m", "__main__.py"):
    signal.signal(signal.SIGINT, _interrupted_while_starting)
