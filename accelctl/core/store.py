"""The job store: every submitted job, in SQLite (WAL) under the XDG state dir.

Safe with many accelctl processes at once: each call is one short transaction,
and SQLite's WAL lets readers run beside a writer.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelctl.core.problems import did_you_mean
from accelctl.errors import AccelctlError, NotFound

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
STATES = ("PENDING", "RUNNING", *TERMINAL, "UNKNOWN")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pool TEXT NOT NULL,
    backend TEXT NOT NULL,
    backend_id TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    ended_at REAL,
    exit_code INTEGER,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted_at);
"""


@dataclass(frozen=True)
class JobRecord:
    """One job as accelctl remembers it."""

    id: str
    name: str
    pool: str
    backend: str
    backend_id: str  # the backend's own id (Ray submission id, ...)
    address: str  # where the backend was reached at submit time
    spec: dict[str, Any]
    state: str
    submitted_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def new_job_id() -> str:
    """A short random id (8 hex digits), typed as a prefix by users."""
    return secrets.token_hex(4)


class JobStore:
    """Job records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(_SCHEMA)
        return conn

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[JobRecord]:
        try:
            with closing(self._connect()) as conn:
                return [_record(r) for r in conn.execute(sql, args)]
        except sqlite3.Error as e:
            raise AccelctlError(f"job store {self.path}: {e}") from None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            with closing(self._connect()) as conn:
                conn.execute(sql, args)
        except sqlite3.Error as e:
            raise AccelctlError(f"job store {self.path}: {e}") from None

    def add(self, record: JobRecord) -> None:
        """Insert a new job."""
        self._write("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
            record.id, record.name, record.pool, record.backend, record.backend_id, record.address,
            json.dumps(record.spec), record.state, record.submitted_at, record.ended_at, record.exit_code,
            record.message))

    def update(self, job_id: str, state: str, *, exit_code: int | None = None, message: str | None = None,
               ended_at: float | None = None) -> None:
        """Record a job's new state; a terminal state also records when it ended."""
        if state in TERMINAL and ended_at is None:
            ended_at = time.time()
        self._write("UPDATE jobs SET state = ?, exit_code = COALESCE(?, exit_code), "
                    "message = COALESCE(?, message), ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                    (state, exit_code, message, ended_at, job_id))

    def list(self, pool: str | None = None, include_done: bool = True) -> list[JobRecord]:
        """Jobs, newest first."""
        sql, args = "SELECT * FROM jobs", []
        where = []
        if pool:
            where.append("pool = ?")
            args.append(pool)
        if not include_done:
            where.append(f"state NOT IN ({','.join('?' * len(TERMINAL))})")
            args.extend(TERMINAL)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._rows(sql + " ORDER BY submitted_at DESC", tuple(args))

    def get(self, prefix: str) -> JobRecord:
        """The job whose id starts with `prefix` (or whose name equals it, if unique)."""
        prefix = prefix.strip().lower()
        found = self._rows("SELECT * FROM jobs WHERE id LIKE ? ESCAPE '\\'", (_like_prefix(prefix),))
        if not found:
            found = self._rows("SELECT * FROM jobs WHERE name = ? ORDER BY submitted_at DESC", (prefix,))
            if len(found) > 1:
                found = found[:1]  # a name means its latest run
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(r.id for r in found[:5])
            raise NotFound(f'job "{prefix}" is ambiguous ({ids}{", ..." if len(found) > 5 else ""})',
                           "type more of the id")
        recent = [r.id for r in self.list()[:50]]
        raise NotFound(f'no job "{prefix}"{did_you_mean(prefix, recent)}', "see `accelctl jobs --all`")


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    return JobRecord(**data)


def default_store() -> JobStore:
    """The user's job store: <XDG state dir>/accelctl/jobs.sqlite."""
    from accelctl import paths

    return JobStore(paths.state_dir() / "jobs.sqlite")
