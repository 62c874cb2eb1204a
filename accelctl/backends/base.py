"""The one contract every backend implements, and the values that cross it.

A backend runs jobs on one kind of pool (the local Ray head, a remote Ray cluster,
later Kubernetes and SSH). The CLI and the TUI see only this contract; the registry in
`backends/__init__.py` picks the class for a pool's `backend:` kind.

Every method that talks to the pool raises `AccelctlError` (exit status 1) when the
pool cannot be reached or refuses, with one line naming the pool; `InvalidInput`
(exit status 2) when the job cannot run there at all. Nothing else escapes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

from accelctl.core.jobspec import JobSpec
from accelctl.core.jobstate import JobState
from accelctl.core.placement import Placement
from accelctl.core.pools import Pool

__all__ = ["Backend", "JobLog", "JobState", "JobStatus", "LogBatch", "Notice", "Position", "Probe",
           "StreamDropped", "Target"]

# Where a log stream resumes. Opaque above backends/: only the backend that made it reads it.
# Ray and SSH use character / byte offsets.
Position = int
# What the job store keeps to reach a job again (JSON-able; never a secret).
Target = dict[str, Any]


class LogBatch(NamedTuple):
    """Consecutive lines of a job's output (without their newlines).

    `end` is the position just after the batch. `partial` is True when the last line
    had no newline as the stream ended; `resume` is where a later stream should start so
    that nothing is lost: after the last complete line. Lines travel as plain strings:
    a million of them must stay cheap.
    """

    lines: list[str]
    end: Position
    partial: bool = False
    resume: Position | None = None  # None: same as `end`

    @property
    def text(self) -> str:
        """The batch as the job wrote it."""
        joined = "\n".join(self.lines)
        return joined if self.partial or not self.lines else joined + "\n"

    @property
    def resume_at(self) -> Position:
        """Where to resume after this batch's complete lines."""
        return self.end if self.resume is None else self.resume


@dataclass(frozen=True)
class JobStatus:
    """A job's state as its backend reports it."""

    state: JobState
    exit_code: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Probe:
    """Whether a pool answers, and a few words on it (version, address, why not)."""

    ok: bool
    detail: str


class Notice(Protocol):
    """Where a backend sends one line for the user about the stream itself; `reconnect`
    marks a dropped or closed stream that is being resumed (the TUI counts those)."""

    def __call__(self, message: str, *, reconnect: bool = False) -> None: ...


Progress = Callable[[str], None]


class JobLog(Protocol):
    """What reading one job's output needs: a Backend, or the archive of a finished job."""

    def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
             notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]: ...

    async def status(self, backend_id: str) -> JobStatus: ...


class StreamDropped(Exception):
    """A log stream ended early (connection lost, closed by the server, stalled).

    Backends raise it from `open_log` iterators; `streams.follow` reconnects on it.
    """


class Backend(ABC):
    """Submit, watch, follow and cancel jobs on one pool.

    Built cheaply: the constructor has no side effects and does no I/O, so listing
    pools or plans never touches the network. `ensure_ready` starts whatever must run.
    """

    kind: ClassVar[str]  # the pool `backend:` value this class serves
    # Which env references (core.jobspec.EnvRef.kind) this backend can hand to a job without
    # writing the value where accelctl or the pool keeps files: "from_env", "secret".
    env_refs: ClassVar[frozenset[str]] = frozenset()
    env_refused: ClassVar[str] = "it has no safe way to pass it"  # why "from_env" is missing, for the error

    def __init__(self, pool_name: str) -> None:
        self.pool_name = pool_name

    @classmethod
    @abstractmethod
    def from_pool(cls, pool: Pool) -> Backend:
        """The backend for a pool of the inventory (no I/O)."""

    @classmethod
    @abstractmethod
    def from_target(cls, pool_name: str, target: Target) -> Backend:
        """The backend a stored job was submitted to, rebuilt from its `target` (no I/O)."""

    async def ensure_ready(self, progress: Progress | None = None) -> None:  # noqa: B027 (optional hook)
        """Start what must run before a submission (the local head); reports steps to
        `progress`. Default: nothing to start."""

    @property
    @abstractmethod
    def target(self) -> Target:
        """What the job store keeps to reach this backend's jobs again: an address, a
        context and namespace, hosts and paths. Never a secret."""

    @abstractmethod
    async def probe(self) -> Probe:
        """Whether the pool answers; never raises, returns within a few seconds."""

    @abstractmethod
    def plan(self, spec: JobSpec, placement: Placement) -> dict[str, Any]:
        """What submitting would ask of the pool (resources, later manifests); no I/O.
        Raises InvalidInput for a job this kind of pool cannot express."""

    @abstractmethod
    async def submit(self, spec: JobSpec, placement: Placement, job_id: str,
                     secrets: Mapping[str, str] | None = None) -> str:
        """Start the job; return the backend's id for it. Raises InvalidInput when no
        node of the pool can ever run it; nothing is left behind when it raises.

        `secrets`: the values of the spec's `from_env` references, by variable name. They
        reach the job's environment without being written to the job store, a manifest,
        a log or a file the pool keeps (only backends that declare "from_env" get any)."""

    @abstractmethod
    async def status(self, backend_id: str) -> JobStatus:
        """The job's current state."""

    @abstractmethod
    def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
             notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        """The job's output in batches of lines, in the order it was written, from `since`.

        Without `follow`: what exists now, then stop. With `follow`: until the job ends,
        reconnecting as needed; each line is yielded exactly once, none is skipped, and
        each reconnect is reported once to `notice`. A last line without a newline comes
        as a `partial` batch once the stream is over.
        """

    @abstractmethod
    async def cancel(self, backend_id: str) -> bool:
        """Ask the pool to stop the job; True if it was still running. The job may take a
        moment to stop: callers wait for `status` to turn terminal."""
