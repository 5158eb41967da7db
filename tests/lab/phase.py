"""Around the lab tests that run three at a time (scripts/test.sh): what each test checks
alone — nothing of a lab left, no process left in another network namespace — checked
once for the whole parallel run, which no test can do while another's lab is up.

    python -m tests.lab.phase before STATE   # no lab anywhere; the processes seen now
    python -m tests.lab.phase after STATE    # exit 1 (and clean up) if anything is left
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.lab.conftest import lab_leftovers, processes_outside_my_netns, run_cli


def before(state: Path) -> int:
    left = lab_leftovers()
    if left:
        print(f"phase: lab objects exist before the lab tests: {left}", file=sys.stderr)
        return 1
    state.write_text(json.dumps(sorted(processes_outside_my_netns())))
    return 0


def after(state: Path) -> int:
    known = set(json.loads(state.read_text()))
    failed = False
    left = lab_leftovers()
    if left:
        print(f"phase: the parallel lab tests left behind: {left}", file=sys.stderr)
        run_cli("lab", "down", "--all")  # for the tests that follow
        failed = True
    stray = sorted(set(processes_outside_my_netns()) - known)
    if stray:
        names = {pid: _comm(pid) for pid in stray}
        print(f"phase: processes left in other network namespaces: {names}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "?"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("before", "after"):
        print("usage: python -m tests.lab.phase before|after STATE", file=sys.stderr)
        return 2
    return {"before": before, "after": after}[argv[0]](Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
