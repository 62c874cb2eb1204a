"""The one interface every backend implements, and the values it passes around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, NamedTuple, Protocol

from accelctl.core.jobspec import JobSpec, Placement


class LogBatch(NamedTuple):
    """Consecutive lines of a job's output (without their newlines).

    `end` is the resume position just after the batch: characters into the log for
    Ray and SSH. `partial` is True when the last line had no newline as the stream
    ended. Lines travel as plain strings: a million of them must stay cheap.
    """

    lines: list[str]
    end: int
    partial: bool = False

    @property
    def text(self) -> str:
        """The batch as the job wrote it."""
        joined = "\n".join(self.lines)
        return joined if self.partial or not self.lines else joined + "\n"


@dataclass(frozen=True)
class JobStatus:
    """A job's state as the backend reports it."""

    state: str  # PENDING RUNNING SUCCEEDED FAILED CANCELLED UNKNOWN
    exit_code: int | None = None
    message: str = ""


class Notice(Protocol):
    """Where a backend sends one line for the user about the stream itself; `reconnect`
    marks a dropped or closed stream that is being resumed (the TUI counts those)."""

    def __call__(self, message: str, *, reconnect: bool = False) -> None: ...


class Backend(Protocol):
    """Submit, watch, follow and cancel jobs on one pool."""

    address: str

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str) -> str:
        """Start the job; return the backend's id for it."""
        ...

    async def status(self, backend_id: str) -> JobStatus:
        """The job's current state."""
        ...

    def logs(self, backend_id: str, *, follow: bool, since: int = 0,
             notice: Notice | None = None) -> AsyncIterator[LogBatch]:
        """The job's output in batches of lines, from offset `since`; with `follow`,
        until the job ends (reconnecting as needed, never repeating or skipping a line)."""
        ...

    async def cancel(self, backend_id: str) -> bool:
        """Stop the job; True if it was running."""
        ...
