"""Job commands: submit, logs, jobs, cancel.

The job's own output goes to stdout exactly; accelctl's messages go to stderr.
asyncio loads inside the commands: `accelctl ls` and `--help` import this module too.
"""

from __future__ import annotations

import sys
from collections import deque
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import click

from accelctl.cli.context import Context, pass_ctx
from accelctl.cli.output import emit_data, emit_table, output_option
from accelctl.core.jobstate import JobState
from accelctl.core.numbers import duration, timestamp
from accelctl.errors import AccelctlError, ExitStatus

if TYPE_CHECKING:
    from accelctl.backends.base import JobLog, LogBatch
    from accelctl.core.jobspec import JobSpec
    from accelctl.core.placement import Placement
    from accelctl.core.store import JobRecord, JobStore

_EXIT = {JobState.SUCCEEDED: ExitStatus.OK, JobState.FAILED: ExitStatus.JOB_FAILED,
         JobState.CANCELLED: ExitStatus.JOB_CANCELLED}


def say(message: str, *, reconnect: bool = False) -> None:
    """One line for the user on stderr (never mixed into the job's output)."""
    click.echo(f"accelctl: {message}", err=True)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--pool", metavar="P", help="Run on this pool (default: the spec's, else the first that fits).")
@click.option("--detach", "-d", is_flag=True, help="Submit and return; do not follow the logs.")
@click.option("--dry-run", is_flag=True, help="Print the resolved plan; submit nothing.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a spec field (repeatable), e.g. --set count=2 --set env.SEED=1.")
@output_option
@pass_ctx
def submit(ctx: Context, spec_path: str, pool: str | None, detach: bool, dry_run: bool,
           overrides: tuple[str, ...], fmt: str) -> None:
    """Submit a job spec and follow its logs (Ctrl-C detaches; the job keeps running).

    Exit status: 0 when the job succeeds, 3 when it fails, 4 when it is cancelled,
    1 when the backend does not answer, 2 for a bad spec.
    """
    from accelctl.core.jobspec import load_jobspec
    from accelctl.core.placement import place

    spec = load_jobspec(spec_path, overrides, ctx.inventory)
    placement = place(spec, ctx.inventory, pool)
    if dry_run:
        _print_plan(spec, placement, fmt)
        return
    import asyncio

    sys.exit(asyncio.run(_submit(spec, placement, detach)))


async def _submit(spec: JobSpec, placement: Placement, detach: bool) -> int:
    from accelctl.backends.jobs import submit_job
    from accelctl.core.store import default_store

    if spec.retries:
        say(f"retries: {spec.retries} is recorded, but the {placement.pool.backend} backend does not retry yet")
    record, backend = await submit_job(spec, placement, default_store(), progress=say)
    say(f"submitted {spec.name} as job {record.id} on pool {placement.pool.name} ({record.backend_id})")
    if detach:
        say(f"follow with `accelctl logs -f {record.id}`; cancel with `accelctl cancel {record.id}`")
        click.echo(record.id)
        return ExitStatus.OK
    return await _follow(record, backend)


async def _follow(record: JobRecord, source: JobLog, since: Any = 0) -> int:
    """Stream a job's logs to stdout from position `since` until it ends; Ctrl-C detaches.
    `source` is the job's backend, or the archive of a finished job."""
    from asyncio import CancelledError

    from accelctl.backends.base import Backend
    from accelctl.backends.jobs import record_status
    from accelctl.core.store import default_store

    try:
        # aclosing: the stream (and its connection) is closed on every way out, a closed stdout too.
        async with aclosing(source.logs(record.backend_id, follow=True, since=since, notice=say)) as stream:
            async for batch in stream:
                _write(batch)
        status = await source.status(record.backend_id)
    except (KeyboardInterrupt, CancelledError):
        say(f"detached; job {record.id} keeps running. Re-attach: `accelctl logs -f {record.id}`; "
            f"cancel: `accelctl cancel {record.id}`")
        return ExitStatus.INTERRUPTED
    if isinstance(source, Backend):  # an archived job's end is already recorded
        await record_status(default_store(), record, status, source)
    if status.state != JobState.SUCCEEDED:
        detail = f" (exit code {status.exit_code})" if status.exit_code is not None else ""
        say(f"job {record.id} {status.state.lower()}{detail}{': ' + status.message if status.message else ''}")
    return _EXIT.get(status.state, ExitStatus.ERROR)


def _write(batch: LogBatch) -> None:
    """The job's lines to stdout, exactly (a last line without newline stays without)."""
    sys.stdout.write(batch.text)
    sys.stdout.flush()


def _print_plan(spec: JobSpec, placement: Placement, fmt: str) -> None:
    from accelctl.backends.jobs import plan

    steps = plan(spec, placement)
    if fmt != "table":
        emit_data(steps, fmt)
        return
    manifests = steps.pop("manifests", None)
    rows = [(k, ", ".join(f"{a}={b:g}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items())
             if isinstance(v, dict) else str(v)) for k, v in steps.items() if v not in (None, {}, "")]
    emit_table(("PLAN", f"{spec.name} (dry run: nothing submitted)"), rows)
    if manifests:  # a Kubernetes pool: the objects it would create, as `accelctl render` prints them
        from accelctl.backends.k8s_manifests import to_yaml

        sys.stdout.write("---\n" + to_yaml(manifests))


@click.command()
@click.argument("job")
@click.option("-f", "--follow", is_flag=True, help="Keep following until the job ends.")
@click.option("--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines (then follow).")
def logs(job: str, follow: bool, tail: int | None) -> None:
    """Print a job's output (JOB: its id, a unique prefix, or its name)."""
    from accelctl.core.store import default_store

    record = default_store().get(job)
    import asyncio

    sys.exit(asyncio.run(_logs(record, follow, tail)))


async def _logs(record: JobRecord, follow: bool, tail: int | None) -> int:
    from accelctl.backends.base import LogBatch
    from accelctl.backends.jobs import job_log

    backend = job_log(record)
    if tail is None:
        if follow:
            return await _follow(record, backend)
        async with aclosing(backend.logs(record.backend_id, follow=False)) as stream:
            async for batch in stream:
                _write(batch)
        return ExitStatus.OK
    last: deque[str] = deque(maxlen=tail)
    final = None
    async with aclosing(backend.logs(record.backend_id, follow=False)) as stream:
        async for batch in stream:
            final = batch
            if follow and batch.partial:
                break  # an unfinished last line: the follow below brings it whole
            last.extend(batch.lines)
    if last:
        _write(LogBatch(list(last), 0, partial=bool(final and final.partial and not follow)))
    if not follow:
        return ExitStatus.OK
    return await _follow(record, backend, final.resume_at if final else 0)


@click.command(name="jobs")
@click.option("--pool", metavar="P", help="Only jobs of this pool.")
@click.option("--all", "show_all", is_flag=True, help="Include finished jobs.")
@click.option("--prune", is_flag=True,
              help="Forget finished and lost (UNKNOWN) jobs (of --pool, or all) and their kept output.")
@output_option
def jobs_cmd(pool: str | None, show_all: bool, prune: bool, fmt: str) -> None:
    """List jobs, refreshing live states from every backend at once.

    A pool that does not answer leaves its jobs' last known state, marked "(?)". A job its
    pool answers for but no longer knows (a restarted Ray head forgets its jobs; a stopped
    local pool has ended them) is UNKNOWN from then on, with the pool's words on stderr.

    A finished job's output is kept (compressed, in the XDG state dir, up to
    $ACCELCTL_LOG_ARCHIVE_MB in all, oldest dropped first) so `accelctl logs` works after
    its pool has gone; `--prune` forgets finished and lost jobs and their output.
    """
    from accelctl.core.store import default_store

    store = default_store()
    if prune:
        _prune(store, pool)
        return
    records = store.list(pool=pool)
    import asyncio

    from accelctl.backends.jobs import refresh_states

    notes = asyncio.run(refresh_states(store, [r for r in records if not r.terminal]))
    records = store.list(pool=pool, include_done=show_all)
    if fmt != "table":
        emit_data([{"id": r.id, "name": r.name, "pool": r.pool, "backend": r.backend, "state": str(r.state),
                    "submitted_at": timestamp(r.submitted_at), "ended_at": timestamp(r.ended_at),
                    "exit_code": r.exit_code, "message": r.message, "note": notes.get(r.id, "")}
                   for r in records], fmt)
        return
    rows = [(r.id, r.name, r.pool, r.state + (" (?)" if r.id in notes else ""), timestamp(r.submitted_at) or "-",
             duration(r.submitted_at, r.ended_at), "-" if r.exit_code is None else str(r.exit_code))
            for r in records]
    emit_table(("ID", "NAME", "POOL", "STATE", "SUBMITTED", "DURATION", "EXIT"), rows)
    for job_id, note in notes.items():
        say(f"{job_id}: {note}")
    for record in records:
        if record.state == JobState.UNKNOWN and record.id not in notes:
            say(f"{record.id}: state unknown: {record.message or 'its pool could not say'}")
    hidden = 0 if show_all else len(store.list(pool=pool)) - len(records)
    if hidden:
        say(f"{hidden} finished job(s) hidden; --all shows them")


def _prune(store: JobStore, pool: str | None) -> None:
    from accelctl.core.logarchive import default_archive

    archive = default_archive()
    # A lost job (UNKNOWN: its pool answers but no longer knows it) will not end either.
    finished = [r for r in store.list(pool=pool) if r.terminal or r.state == JobState.UNKNOWN]
    store.delete([r.id for r in finished])
    kept = sum(archive.remove(r.id) for r in finished)
    say(f"forgot {len(finished)} finished or lost job(s) and the output kept for {kept} of them")


@click.command()
@click.argument("job")
@output_option
def cancel(job: str, fmt: str) -> None:
    """Cancel a job (JOB: its id, a unique prefix, or its name) and wait until it has stopped.

    Exit status 0 once it stopped (or had already ended), 1 if it still runs after the wait.
    """
    from accelctl.core.store import default_store

    store = default_store()
    record = store.get(job)
    if record.terminal:
        say(f"job {record.id} already {record.state.lower()}")
        _emit_state(store.get(record.id), fmt)
        return
    import asyncio

    from accelctl.backends.jobs import cancel_job

    say(f"cancelling job {record.id}; waiting for it to stop")
    status = asyncio.run(cancel_job(store, record))
    if not status.state.terminal:
        raise AccelctlError(f"job {record.id} was asked to stop but is still {status.state.lower()}",
                            f"check again with `accelctl jobs`; `accelctl cancel {record.id}` asks again")
    say(f"job {record.id} cancelled" if status.state == JobState.CANCELLED
        else f"job {record.id} had already ended: {status.state.lower()}")
    _emit_state(store.get(record.id), fmt)


def _emit_state(record: JobRecord, fmt: str) -> None:
    """A job's state as data (`-o json|yaml`); the table form is the line on stderr."""
    if fmt != "table":
        emit_data({"id": record.id, "name": record.name, "pool": record.pool, "state": str(record.state),
                   "exit_code": record.exit_code, "ended_at": timestamp(record.ended_at)}, fmt)
