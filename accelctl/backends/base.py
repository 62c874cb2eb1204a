"""The one interface every backend implements, and the values it passes around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Callable, Protocol

from accelctl.core.jobspec import JobSpec, Placement


@dataclass(frozen=True)
class LogLine:
    """One line of a job's output (without its newline) and where the next one starts.

    `offset` is the resume position: characters into the log for Ray and SSH.
    `complete` is False for a last line that had no newline when the stream ended.
    """

    text: str
    offset: int
    complete: bool = True


@dataclass(frozen=True)
class JobStatus:
    """A job's state as the backend reports it."""

    state: str  # PENDING RUNNING SUCCEEDED FAILED CANCELLED UNKNOWN
    exit_code: int | None = None
    message: str = ""


Notice = Callable[[str], None]  # one line for the user about the stream itself (reconnects, ...)


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
             notice: Notice | None = None) -> AsyncIterator[list[LogLine]]:
        """The job's output in batches of lines, from offset `since`; with `follow`,
        until the job ends (reconnecting as needed, never repeating or skipping a line)."""
        ...

    async def cancel(self, backend_id: str) -> bool:
        """Stop the job; True if it was running."""
        ...
