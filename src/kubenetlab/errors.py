"""Errors that end a command with the exit codes of the CLI contract (DESIGN.md)."""

from __future__ import annotations


class KnlError(Exception):
    """An error with a one-line message for the user and the exit code it ends with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(KnlError):
    """Bad input or usage: exit 2."""

    exit_code = 2


class EnvironmentProblem(KnlError):
    """This machine cannot run the command (not root, missing tool, kernel option): exit 3.

    The message must say the exact fix.
    """

    exit_code = 3


class CommandFailed(KnlError):
    """A command the user asked to run could not start: the shell's exit code (126, 127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
