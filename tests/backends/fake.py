"""A test double of a backend: jobs that live in memory and write scripted output.

FakeBackend implements the whole Backend contract and uses the shared stream loop
(`streams.follow`), like a real backend. Its log streams misbehave on request, in the
ways real servers do: they drop the connection after a given number of characters,
close cleanly while the job still runs, or replay the log from the start on each
connection. The contract suite runs the same assertions over it and over real Ray.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from accelctl.backends import streams
from accelctl.backends.base import (
    Backend,
    JobState,
    JobStatus,
    LogBatch,
    Notice,
    Position,
    Probe,
    StreamDropped,
    Target,
)
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import Pool
from accelctl.errors import AccelctlError


@dataclass
class Script:
    """What a fake job does: write `output` in `chunks`-sized pieces, `delay` s apart, then end
    with `exit_code` (0: SUCCEEDED, else FAILED)."""

    output: str
    exit_code: int = 0
    chunk: int = 4096
    delay: float = 0.0
    start_after: float = 0.0  # seconds PENDING before it runs
    end_after_faults: bool = False  # end only once every scripted fault has happened


@dataclass
class Faults:
    """How the fake's live log streams misbehave: `drops` and `closes` are stream positions
    (characters) where a connection raises StreamDropped or ends quietly, each once;
    `replay` makes each connection start again at position 0."""

    drops: list[int] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    replay: bool = False


@dataclass
class FakeJob:
    script: Script
    written: str = ""
    state: JobState = JobState.PENDING
    exit_code: int | None = None
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class FakeCluster:
    """The fake jobs of one test, shared by every FakeBackend built for it."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.faults = faults or Faults()
        self.connections = 0

    def start(self, backend_id: str, script: Script) -> None:
        job = self.jobs[backend_id] = FakeJob(script)
        job.task = asyncio.get_running_loop().create_task(self._run(job))

    async def _run(self, job: FakeJob) -> None:
        await asyncio.sleep(job.script.start_after)
        job.state = JobState.RUNNING
        text = job.script.output
        for start in range(0, len(text), job.script.chunk):
            job.written += text[start:start + job.script.chunk]
            job.changed.set()
            await asyncio.sleep(job.script.delay)
        while job.script.end_after_faults and (self.faults.drops or self.faults.closes):
            await asyncio.sleep(0.01)
        job.exit_code = job.script.exit_code
        job.state = JobState.SUCCEEDED if job.exit_code == 0 else JobState.FAILED
        job.changed.set()


class FakeBackend(Backend):
    """A backend over a FakeCluster; `submit` takes the Script from the spec's env
    (the harness puts it in `FakeBackend.scripts` keyed by job name)."""

    kind = "fake"

    def __init__(self, pool_name: str, cluster: FakeCluster) -> None:
        super().__init__(pool_name)
        self.cluster = cluster
        self.scripts: dict[str, Script] = {}

    @classmethod
    def from_pool(cls, pool: Pool) -> FakeBackend:
        raise NotImplementedError("built by the test harness")

    @classmethod
    def from_target(cls, pool_name: str, target: Target) -> FakeBackend:
        return cls(pool_name, CLUSTERS[target["cluster"]])

    @property
    def target(self) -> Target:
        return {"cluster": id(self.cluster)}

    async def probe(self) -> Probe:
        return Probe(True, f"{len(self.cluster.jobs)} fake jobs")

    def plan(self, spec: JobSpec, placement: Placement) -> dict[str, Any]:
        return {"resources": {"fake": float(placement.count)}}

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str,
                     secrets: Mapping[str, str] | None = None) -> str:
        backend_id = f"fake-{job_id}"
        self.cluster.start(backend_id, self.scripts[spec.name])
        return backend_id

    def _job(self, backend_id: str) -> FakeJob:
        if backend_id not in self.cluster.jobs:
            raise AccelctlError(f'pool "{self.pool_name}" has no job {backend_id}')
        return self.cluster.jobs[backend_id]

    async def status(self, backend_id: str) -> JobStatus:
        job = self._job(backend_id)
        return JobStatus(job.state, job.exit_code)

    async def cancel(self, backend_id: str) -> bool:
        job = self._job(backend_id)
        if job.state.terminal:
            return False
        assert job.task is not None
        job.task.cancel()
        job.state = JobState.CANCELLED
        job.changed.set()
        return True

    def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
             notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        return streams.follow(self, backend_id, live=follow, since=since, notice=notice)

    async def open_log(self, backend_id: str, since: Position, *,
                       live: bool) -> AsyncGenerator[tuple[Position, str], None]:
        job = self._job(backend_id)
        faults = self.cluster.faults
        self.cluster.connections += 1
        at = 0 if faults.replay else since
        if not live:
            yield at, job.written[at:]
            return
        while True:
            job.changed.clear()
            end = len(job.written)
            for cut in sorted(faults.drops + faults.closes):
                if at < cut <= end:
                    yield at, job.written[at:cut]
                    if cut in faults.drops:
                        faults.drops.remove(cut)
                        raise StreamDropped(f"fake drop at {cut}")
                    faults.closes.remove(cut)
                    return
            if end > at:
                yield at, job.written[at:end]
                at = end
            if job.state.terminal:
                return
            await job.changed.wait()


CLUSTERS: dict[int, FakeCluster] = {}


def fake_backend(faults: Faults | None = None) -> FakeBackend:
    """A FakeBackend over a new cluster that `from_target` can find again."""
    cluster = FakeCluster(faults)
    CLUSTERS[id(cluster)] = cluster
    return FakeBackend("fake", cluster)
