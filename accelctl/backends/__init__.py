"""Backends run jobs on pools. Headless: no textual, no click; SDKs load lazily."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from accelctl.backends.base import Backend
    from accelctl.core.jobspec import JobSpec, Placement
    from accelctl.core.models import Pool
    from accelctl.core.store import JobRecord, JobStore

REFRESH_TIMEOUT_S = 5.0


def backend_for(pool: Pool, *, progress: Callable[[str], None] | None = None) -> Backend:
    """The backend that runs jobs on `pool`. The local pool is started if needed."""
    from accelctl.errors import InvalidInput

    if pool.backend == "local":
        from accelctl.backends.local import LocalRay
        from accelctl.backends.ray import RayBackend

        return RayBackend(LocalRay().ensure_started(progress), pool_name=pool.name)
    if pool.backend == "ray":
        import os

        from accelctl.backends.ray import RayBackend

        address = pool.address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise InvalidInput(f'pool "{pool.name}" has no address', "set `address:` or $RAY_ADDRESS")
        return RayBackend(address, pool_name=pool.name)
    raise InvalidInput(f'pool "{pool.name}": the {pool.backend} backend is not available yet',
                       "use a local or ray pool")


def backend_of(record: JobRecord) -> Backend:
    """The backend a stored job was submitted to, reached at its recorded address."""
    from accelctl.errors import AccelctlError

    if record.backend in ("local", "ray"):
        from accelctl.backends.ray import RayBackend

        return RayBackend(record.address, pool_name=record.pool)
    raise AccelctlError(f"job {record.id}: the {record.backend} backend is not available yet")


async def refresh_states(store: JobStore, records: list[JobRecord],
                         timeout: float = REFRESH_TIMEOUT_S) -> dict[str, str]:
    """Ask each job's backend for its state, all at once, each within `timeout`.

    New states go to the store. An unreachable pool keeps its jobs' last known state;
    the returned notes (by job id) say why.
    """
    from accelctl.errors import AccelctlError

    notes: dict[str, str] = {}

    async def one(record: JobRecord) -> None:
        try:
            status = await asyncio.wait_for(backend_of(record).status(record.backend_id), timeout)
        except asyncio.TimeoutError:
            notes[record.id] = f"pool {record.pool} did not answer within {timeout:g} s"
            return
        except AccelctlError as e:
            notes[record.id] = e.message
            return
        if status.state != record.state:
            await asyncio.to_thread(store.update, record.id, status.state, exit_code=status.exit_code,
                                    message=status.message)

    await asyncio.gather(*(one(r) for r in records))
    return notes


async def probe_pool(pool: Pool, timeout: float = REFRESH_TIMEOUT_S) -> tuple[bool, str]:
    """Whether a pool answers, and a few words on it; never raises, never blocks the loop."""
    import json
    import os
    import urllib.request

    if pool.backend == "local":
        from accelctl.backends.local import LocalRay

        state = await asyncio.to_thread(LocalRay().status)
        return (True, f"running at {state['address']}") if state else (True, "stopped; starts on demand")
    if pool.backend == "ray":
        address = pool.address or os.environ.get("RAY_ADDRESS", "")
        if not address:
            return False, "no address (set `address:` or RAY_ADDRESS)"

        def version() -> str:
            with urllib.request.urlopen(f"{address.rstrip('/')}/api/version", timeout=timeout) as response:
                return json.load(response).get("ray_version", "?")

        try:
            return True, f"Ray {await asyncio.to_thread(version)} at {address}"
        except (OSError, ValueError) as e:
            return False, f"{address}: {getattr(e, 'reason', e)}"
    return False, f"the {pool.backend} backend is not available yet"


async def submit_job(spec: JobSpec, placement: Placement, store: JobStore,
                     progress: Callable[[str], None] | None = None) -> tuple[JobRecord, Backend]:
    """Start the pool if needed, submit, and record the job; the record and its backend.

    Nothing is stored when the submission fails, so no job is left "running" that never ran.
    """
    import time

    from accelctl.core.plain import to_plain
    from accelctl.core.store import JobRecord, new_job_id

    backend = await asyncio.to_thread(backend_for, placement.pool, progress=progress)
    job_id = new_job_id()
    backend_id = await backend.submit(spec, placement, job_id)
    record = JobRecord(job_id, spec.name, placement.pool.name, placement.pool.backend, backend_id,
                       backend.address, to_plain(spec), "PENDING", time.time())
    await asyncio.to_thread(store.add, record)
    return record, backend


def plan(spec: JobSpec, placement: Placement) -> dict[str, object]:
    """What submitting would do, for --dry-run and the TUI's submit dialog."""
    from accelctl.backends.ray import ray_request

    pool = placement.pool
    return {"job": spec.name, "pool": pool.name, "backend": pool.backend, "where": pool.location,
            "accelerator": placement.accelerator, "count": spec.count, "nodes": spec.nodes,
            "resources": ray_request(spec, placement) if pool.backend in ("local", "ray") else {},
            "entrypoint": spec.entrypoint, "workdir": str(spec.workdir_path) if spec.workdir else None,
            "env": dict(spec.env), "rejected_pools": dict(placement.rejected)}
