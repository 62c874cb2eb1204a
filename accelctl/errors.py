"""Errors that reach the user, and the exit codes accelctl documents."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes; the README lists them for scripts."""

    OK = 0
    ERROR = 1  # runtime error: backend unreachable, I/O failure
    INVALID = 2  # invalid input or usage
    JOB_FAILED = 3
    JOB_CANCELLED = 4
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


class AccelctlError(Exception):
    """An expected error: printed as one line, never as a traceback.

    `message` is the whole line the user sees; `hint` (optional) says what to do.
    """

    exit_status = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(AccelctlError):
    """The user's input (a file, an id, an option) is wrong."""

    exit_status = ExitStatus.INVALID


class NotFound(InvalidInput):
    """An id, alias or name that does not resolve."""
