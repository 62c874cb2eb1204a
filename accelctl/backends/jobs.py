"""What the CLI and the TUI both do with jobs: submit and record, refresh states, probe
pools, plan, cancel, record the end of a job (and keep its output), read a job's log
from wherever it still is. One home for each."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from accelctl.backends import backend_for, backend_of
from accelctl.backends.base import Backend, JobLog, JobStatus, LogBatch, Notice, Position, Probe, Progress
from accelctl.backends.streams import LineSplitter
from accelctl.core.jobspec import JobSpec
from accelctl.core.jobstate import JobState
from accelctl.core.logarchive import LogArchive, default_archive
from accelctl.core.placement import Placement
from accelctl.core.plain import to_plain
from accelctl.core.pools import Pool
from accelctl.core.problems import ProblemsFound
from accelctl.core.store import JobRecord, JobStore, new_job_id
from accelctl.errors import AccelctlError

REFRESH_TIMEOUT_S = 5.0
CANCEL_WAIT_S = 40.0  # a cancelled Ray job gets SIGTERM, then SIGKILL after its grace period
_CANCEL_POLL_S = 0.25


async def submit_job(spec: JobSpec, placement: Placement, store: JobStore,
                     progress: Progress | None = None) -> tuple[JobRecord, Backend]:
    """Start the pool if needed, submit, and record the job; the record and its backend.

    Nothing is stored when the submission fails, so no job is left "running" that never ran.
    """
    backend = backend_for(placement.pool)
    check_env_refs(spec, backend)
    secrets = spec.secret_values()  # read now; handed to the backend, never recorded
    await backend.ensure_ready(progress)
    job_id = new_job_id()
    backend_id = await backend.submit(spec, placement, job_id, secrets)
    record = JobRecord(job_id, spec.name, placement.pool.name, placement.pool.backend, backend_id,
                       backend.target, to_plain(spec), JobState.PENDING, time.time())
    await asyncio.to_thread(store.add, record)
    return record, backend


def plan(spec: JobSpec, placement: Placement) -> dict[str, Any]:
    """What submitting would do, for --dry-run and the TUI's submit dialog (no I/O)."""
    pool = placement.pool
    steps: dict[str, Any] = {
        "job": spec.name, "pool": pool.name, "backend": pool.backend, "where": pool.location,
        "accelerator": placement.accelerator, "count": placement.count, "nodes": placement.nodes}
    backend = backend_for(pool)
    check_env_refs(spec, backend)
    spec.secret_values()  # an unset variable fails the dry run as it would fail the submit
    steps.update(backend.plan(spec, placement))
    steps.update({"workdir": str(spec.workdir_path) if spec.workdir else None, "env": to_plain(spec.env),
                  "rejected_pools": dict(placement.rejected)})
    return steps


def check_env_refs(spec: JobSpec, backend: Backend) -> None:
    """Every env reference of the spec is one the pool's backend can pass on safely; else a
    problem pinned to the variable's line saying what to use instead."""
    problems = []
    for name, ref in spec.env_refs.items():
        if ref.kind in backend.env_refs:
            continue
        if ref.kind == "secret":
            why = f'{{secret: {ref.secret}}} names a Kubernetes Secret; pool "{backend.pool_name}" is not Kubernetes'
            hint = "use {from_env: VAR} to pass a value from your shell"
        else:
            why = f'pool "{backend.pool_name}" cannot take {{from_env: {ref.from_env}}}: {backend.env_refused}'
            hint = "set the variable on the pool's machines, or use a pool that takes it (local, SSH, Kubernetes)"
        problems.append(spec.problem(f"env.{name}", why, hint=hint))
    if problems:
        raise ProblemsFound(problems)


async def probe_pool(pool: Pool, timeout: float = REFRESH_TIMEOUT_S) -> Probe:
    """Whether a pool answers, and a few words on it; never raises, never blocks the loop."""
    try:
        return await asyncio.wait_for(backend_for(pool).probe(), timeout)
    except TimeoutError:
        return Probe(False, f"no answer within {timeout:g} s")
    except AccelctlError as e:
        return Probe(False, e.message)


async def refresh_states(store: JobStore, records: list[JobRecord],
                         timeout: float = REFRESH_TIMEOUT_S) -> dict[str, str]:
    """Ask each job's backend for its state, all at once, each within `timeout`.

    New states go to the store. A job whose pool answers but cannot tell its state (a
    restarted Ray head has forgotten its jobs; a stopped local pool has ended them) is lost:
    it is recorded as UNKNOWN, with the pool's words as its message. An unreachable pool
    keeps its jobs' last known state; the returned notes (by job id) say why.
    """
    notes: dict[str, str] = {}
    failed: dict[tuple[str, str, str], list[tuple[JobRecord, AccelctlError]]] = {}

    async def one(record: JobRecord) -> None:
        try:
            status = await asyncio.wait_for(backend_of(record).status(record.backend_id), timeout)
        except TimeoutError:
            notes[record.id] = f"pool {record.pool} did not answer within {timeout:g} s"
            return
        except AccelctlError as e:
            failed.setdefault(_reached_by(record), []).append((record, e))
            return
        if (status.state, status.message) != (record.state, record.message):
            await record_status(store, record, status, backend_of(record))

    await asyncio.gather(*(one(r) for r in records))
    await asyncio.gather(*(_lost_or_unreached(store, jobs, notes, timeout) for jobs in failed.values()))
    return notes


def _reached_by(record: JobRecord) -> tuple[str, str, str]:
    """Jobs with the same key are reached the same way: one probe answers for them all."""
    return record.pool, record.backend, json.dumps(record.target, sort_keys=True)


async def _lost_or_unreached(store: JobStore, failures: list[tuple[JobRecord, AccelctlError]],
                             notes: dict[str, str], timeout: float) -> None:
    """Jobs of one pool whose state could not be read: if the pool itself answers, they are
    lost (UNKNOWN); else they keep their last state and get a note."""
    try:
        answers = (await asyncio.wait_for(backend_of(failures[0][0]).probe(), timeout)).ok
    except (TimeoutError, AccelctlError):
        answers = False
    for record, error in failures:
        if not answers:
            notes[record.id] = error.message
        elif (record.state, record.message) != (JobState.UNKNOWN, error.message):
            await asyncio.to_thread(store.update, record.id, JobState.UNKNOWN, message=error.message)


async def record_status(store: JobStore, record: JobRecord, status: JobStatus, backend: Backend) -> None:
    """Keep what the backend said about a job (after a follow, a refresh or a cancel); once the
    job has ended, keep its output too (best effort: a pool that stops answering now only
    means `logs` will need it later)."""
    await asyncio.to_thread(store.update, record.id, status.state, exit_code=status.exit_code,
                            message=status.message)
    if status.state.terminal:
        archive = default_archive()
        if not await asyncio.to_thread(archive.has, record.id):
            await keep_log(archive, record, backend)


async def keep_log(archive: LogArchive, record: JobRecord, backend: Backend) -> bool:
    """Copy a finished job's output into the archive; False when the pool would not give it."""
    try:
        with archive.writer(record.id) as out:
            async with aclosing(backend.logs(record.backend_id, follow=False)) as stream:
                async for batch in stream:
                    out.write(batch.text)
    except (AccelctlError, OSError):
        return False  # the record stays; `logs` asks the pool again, or says it is gone
    return True


class ArchivedLog:
    """A finished job's output from the archive, read like a backend's (`logs`, `status`)."""

    def __init__(self, archive: LogArchive, record: JobRecord) -> None:
        self.archive = archive
        self.record = record

    def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
             notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        return self._read(since)

    async def _read(self, since: Position) -> AsyncGenerator[LogBatch, None]:
        splitter = LineSplitter(since)
        at = 0
        for chunk in self.archive.read(self.record.id):
            batch = splitter.feed(at, chunk)
            at += len(chunk)
            if batch:
                yield batch
        if last := splitter.flush():
            yield last

    async def status(self, backend_id: str) -> JobStatus:
        return JobStatus(self.record.state, self.record.exit_code, self.record.message)


def job_log(record: JobRecord) -> JobLog:
    """Where a job's output is read from: the archive once it has ended and was kept, else its pool."""
    archive = default_archive()
    if record.terminal and archive.has(record.id):
        return ArchivedLog(archive, record)
    return backend_of(record)


async def cancel_job(store: JobStore, record: JobRecord, wait: float = CANCEL_WAIT_S) -> JobStatus:
    """Ask the backend to stop the job and wait (up to `wait` s) until it has ended.

    The store records the state the backend reports: CANCELLED only once the job has
    actually stopped (or whatever end it reached first); a job still running after `wait`
    keeps its state, and the returned status says so.
    """
    backend = backend_of(record)
    await backend.cancel(record.backend_id)
    deadline = time.monotonic() + wait
    status = await backend.status(record.backend_id)
    while not status.state.terminal and time.monotonic() < deadline:
        await asyncio.sleep(_CANCEL_POLL_S)
        status = await backend.status(record.backend_id)
    await record_status(store, record, status, backend)
    return status
