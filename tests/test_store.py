"""The SQLite job store: prefixes, states, and many writers at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelctl.core.store import JobRecord, JobStore
from accelctl.errors import NotFound


def record(job_id: str, name: str = "hello", state: str = "PENDING") -> JobRecord:
    return JobRecord(job_id, name, "local", "local", f"accelctl-{job_id}", "http://127.0.0.1:1",
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
    JobStore(path).update("abc12345", "FAILED", exit_code=3, message="boom")
    again = JobStore(path).get("abc12345")
    assert (again.state, again.exit_code, again.message) == ("FAILED", 3, "boom") and again.ended_at
    assert JobStore(path).list(include_done=False) == []


def test_many_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    code = ("import sys, time\nfrom accelctl.core.store import JobRecord, JobStore\n"
            "s = JobStore(__import__('pathlib').Path(sys.argv[1]))\n"
            "for i in range(50):\n"
            "    jid = f'{sys.argv[2]}{i:06d}'\n"
            "    s.add(JobRecord(jid, 'n', 'local', 'local', jid, '', {}, 'PENDING', time.time()))\n"
            "    s.update(jid, 'SUCCEEDED', exit_code=0)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    jobs = JobStore(path).list()
    assert len(jobs) == 200 and {j.state for j in jobs} == {"SUCCEEDED"}
