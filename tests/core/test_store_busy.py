"""The job store when SQLite answers "database is locked" at once, without its busy timeout.

That happens to a connection opening the file while another runs WAL recovery, or while the
last one to close checkpoints and removes the WAL; fifty `accelctl submit`s at once on a new
store hit it (one in several runs before the store retried). The retry is tested directly
with a fake busy error, and the whole store with many processes opening a new file at once.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from accelctl.core import store as store_module
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore, new_job_id
from accelctl.errors import AccelctlError

PROCESSES = 50
ROUNDS = 3


def _busy(code: int = sqlite3.SQLITE_BUSY) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code  # as sqlite3 sets it on the errors it raises
    return error


def test_a_busy_answer_is_retried_until_it_works() -> None:
    calls = []

    def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) < 4:
            raise _busy(261 if len(calls) == 2 else sqlite3.SQLITE_BUSY)  # 261: SQLITE_BUSY_RECOVERY
        return "done"

    assert store_module._retry_busy(attempt) == "done"
    assert len(calls) == 4


def test_other_errors_are_not_retried() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        error = sqlite3.OperationalError("no such table: jobs")
        error.sqlite_errorcode = sqlite3.SQLITE_ERROR
        raise error

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store_module._retry_busy(attempt)
    assert calls == [1]


def test_a_store_busy_for_longer_than_its_budget_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = []

    def always_busy(self: JobStore, operation: object) -> None:
        attempts.append(1)
        raise _busy()

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(store_module._retry_busy, "__defaults__", (0.3,))
    monkeypatch.setattr(JobStore, "_once", always_busy)
    started = time.monotonic()
    with pytest.raises(AccelctlError, match=r"job store .*jobs\.sqlite: database is locked") as raised:
        JobStore(tmp_path / "jobs.sqlite").list()
    assert time.monotonic() - started < 0.3 + 2 and len(attempts) > 3  # retried, within its budget
    assert raised.value.hint and "another accelctl" in raised.value.hint


def _add_and_read(path: str, barrier: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue) -> None:
    store = JobStore(Path(path))
    barrier.wait()  # all open the new file at the same moment
    try:
        job_id = new_job_id()
        store.list()
        store.add(JobRecord(job_id, "n", "local", "local", job_id, {}, {}, JobState.PENDING, time.time()))
        store.update(job_id, JobState.RUNNING)
        store.list()
    except AccelctlError as e:
        errors.put(e.message)


def test_fifty_processes_open_a_new_store_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    errors: multiprocessing.Queue = context.Queue()
    for round_ in range(ROUNDS):
        path = tmp_path / f"round{round_}" / "jobs.sqlite"
        barrier = context.Barrier(PROCESSES)
        procs = [context.Process(target=_add_and_read, args=(str(path), barrier, errors)) for _ in range(PROCESSES)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=60)
        assert [proc.exitcode for proc in procs] == [0] * PROCESSES
        assert errors.empty(), errors.get()
        jobs = JobStore(path).list()
        assert len(jobs) == PROCESSES and {j.state for j in jobs} == {JobState.RUNNING}
