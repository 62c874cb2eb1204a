"""The SQLite job store: prefixes, states, and many writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from accelctl.core.jobstate import JobState
from accelctl.core.store import SCHEMA_VERSION, JobRecord, JobStore
from accelctl.errors import AccelctlError, NotFound


def record(job_id: str, name: str = "hello", state: JobState = JobState.PENDING) -> JobRecord:
    return JobRecord(job_id, name, "local", "local", f"accelctl-{job_id}", {"address": "http://127.0.0.1:1"},
                     {"name": name}, state, time.time())


def test_prefix_name_and_ambiguity(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.add(record("abc12345"))
    store.add(record("abd99999", name="train"))
    assert store.get("abc").id == "abc12345"
    assert store.get("train").id == "abd99999"
    with pytest.raises(NotFound, match="ambiguous"):
        store.get("ab")
    with pytest.raises(NotFound, match='no job "zzz"'):
        store.get("zzz")


def test_update_records_end_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path).add(record("abc12345"))
    JobStore(path).update("abc12345", JobState.FAILED, exit_code=3, message="boom")
    again = JobStore(path).get("abc12345")
    assert (again.state, again.exit_code, again.message) == (JobState.FAILED, 3, "boom") and again.ended_at
    assert again.target == {"address": "http://127.0.0.1:1"}
    assert JobStore(path).list(include_done=False) == []


def test_many_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    code = ("import sys, time\nfrom accelctl.core.store import JobRecord, JobStore\n"
            "from accelctl.core.jobstate import JobState\n"
            "s = JobStore(__import__('pathlib').Path(sys.argv[1]))\n"
            "for i in range(50):\n"
            "    jid = f'{sys.argv[2]}{i:06d}'\n"
            "    s.add(JobRecord(jid, 'n', 'local', 'local', jid, {}, {}, JobState.PENDING, time.time()))\n"
            "    s.update(jid, JobState.SUCCEEDED, exit_code=0)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    jobs = JobStore(path).list()
    assert len(jobs) == 200 and {j.state for j in jobs} == {"SUCCEEDED"}


# The first store's schema (user_version 0), as accelctl 0.1 wrote it.
_SCHEMA_V0 = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, pool TEXT NOT NULL, backend TEXT NOT NULL,
    backend_id TEXT NOT NULL, address TEXT NOT NULL DEFAULT '', spec TEXT NOT NULL, state TEXT NOT NULL,
    submitted_at REAL NOT NULL, ended_at REAL, exit_code INTEGER, message TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_submitted ON jobs (submitted_at);
INSERT INTO jobs VALUES ('abc12345', 'hello', 'local', 'local', 'accelctl-abc12345', 'http://127.0.0.1:36941',
    '{"name": "hello"}', 'SUCCEEDED', 1700000000.0, 1700000005.0, 0, '');
INSERT INTO jobs VALUES ('def67890', 'train', 'gpus', 'ray', 'raysubmit_1', '', '{}', 'RUNNING',
    1700000010.0, NULL, NULL, '');
"""


def test_a_store_of_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(_SCHEMA_V0)
    store = JobStore(path)
    old = store.get("abc12345")
    assert (old.target, old.state, old.exit_code, old.ended_at) == (
        {"address": "http://127.0.0.1:36941"}, JobState.SUCCEEDED, 0, 1700000005.0)
    assert store.get("def67890").target == {} and store.get("def67890").state is JobState.RUNNING
    assert [r.id for r in store.list(include_done=False)] == ["def67890"]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    assert "target" in columns and "address" not in columns
    store.add(record("fff00000"))  # and it keeps working
    assert len(store.list()) == 3


def test_a_store_from_a_newer_accelctl_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AccelctlError, match="newer accelctl"):
        JobStore(path).list()
