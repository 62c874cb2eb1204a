"""The job store: every submitted job, in SQLite (WAL) under the XDG state dir.

Safe with many accelctl processes at once: each call is one short transaction,
and SQLite's WAL lets readers run beside a writer. SQLite's busy timeout covers the
ordinary waits for a lock; the few moments when SQLite answers "database is locked" at
once (see `_retry_busy`) are retried here.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from accelctl.core.jobstate import JobState
from accelctl.core.problems import did_you_mean
from accelctl.errors import AccelctlError, NotFound

SCHEMA_VERSION = 1  # PRAGMA user_version of a current store
BUSY_TIMEOUT_S = 30.0  # how long one store operation waits for the file to be free, in all
_BUSY_FIRST_DELAY_S = 0.005
_BUSY_MAX_DELAY_S = 0.25
T = TypeVar("T")

# Version 0 (the first store) kept an `address` column; version 1 keeps a JSON target.
_SCHEMA_V1 = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pool TEXT NOT NULL,
    backend TEXT NOT NULL,
    backend_id TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '{}',
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    ended_at REAL,
    exit_code INTEGER,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_submitted ON jobs (submitted_at);
"""
_MIGRATE_V0_TO_V1 = """
ALTER TABLE jobs RENAME TO jobs_v0;
DROP INDEX IF EXISTS jobs_submitted;
""" + _SCHEMA_V1 + """
INSERT INTO jobs SELECT id, name, pool, backend, backend_id,
    CASE WHEN address = '' THEN '{}' ELSE json_object('address', address) END,
    spec, state, submitted_at, ended_at, exit_code, message FROM jobs_v0;
DROP TABLE jobs_v0;
"""


@dataclass(frozen=True)
class JobRecord:
    """One job as accelctl remembers it."""

    id: str
    name: str
    pool: str
    backend: str  # the pool's kind when the job was submitted
    backend_id: str  # the backend's own id (Ray submission id, ...)
    target: dict[str, Any]  # what the backend needs to reach the job again (no secrets)
    spec: dict[str, Any]
    state: JobState
    submitted_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.state.terminal


def new_job_id() -> str:
    """A short random id (8 hex digits), typed as a prefix by users."""
    return secrets.token_hex(4)


class JobStore:
    """Job records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout= is SQLite's busy timeout, in force before the first statement below.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                _migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """`operation` on a fresh connection (one short transaction), retried while the file
        is busy; any SQLite error becomes one line naming the store."""
        try:
            return _retry_busy(lambda: self._once(operation))
        except sqlite3.Error as e:
            raise AccelctlError(f"job store {self.path}: {e}",
                                "another accelctl holds it too long, or the file is damaged") from None

    def _once(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        with closing(self._connect()) as conn:
            return operation(conn)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[JobRecord]:
        return self._run(lambda conn: [_record(r) for r in conn.execute(sql, args)])

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self._run(lambda conn: conn.execute(sql, args))

    def add(self, record: JobRecord) -> None:
        """Insert a new job."""
        self._write("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
            record.id, record.name, record.pool, record.backend, record.backend_id, json.dumps(record.target),
            json.dumps(record.spec), str(record.state), record.submitted_at, record.ended_at, record.exit_code,
            record.message))

    def update(self, job_id: str, state: JobState, *, exit_code: int | None = None, message: str | None = None,
               ended_at: float | None = None) -> None:
        """Record a job's new state; a terminal state also records when it ended."""
        if state.terminal and ended_at is None:
            ended_at = time.time()
        self._write("UPDATE jobs SET state = ?, exit_code = COALESCE(?, exit_code), "
                    "message = COALESCE(?, message), ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                    (str(state), exit_code, message, ended_at, job_id))

    def delete(self, job_ids: list[str]) -> None:
        """Forget these jobs (one transaction)."""
        if job_ids:
            self._write(f"DELETE FROM jobs WHERE id IN ({','.join('?' * len(job_ids))})", tuple(job_ids))

    def list(self, pool: str | None = None, include_done: bool = True) -> list[JobRecord]:
        """Jobs, newest first."""
        sql, args = "SELECT * FROM jobs", []
        where = []
        if pool:
            where.append("pool = ?")
            args.append(pool)
        if not include_done:
            ended = [str(s) for s in JobState if s.terminal]
            where.append(f"state NOT IN ({','.join('?' * len(ended))})")
            args.extend(ended)
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


def _retry_busy(attempt: Callable[[], T], budget_s: float = BUSY_TIMEOUT_S) -> T:
    """`attempt()`, repeated (with jittered backoff, for up to `budget_s`) while SQLite says
    the database is busy.

    The busy timeout does not cover every wait: SQLite answers SQLITE_BUSY at once, without
    waiting, to a connection that opens the file while another one runs WAL recovery or, as
    the last to close, checkpoints and removes the WAL. Fifty `accelctl submit`s at once hit
    that. Each store operation is one autocommit statement (or the migration, one
    transaction), so one that failed busy changed nothing and is safe to repeat.
    """
    deadline = time.monotonic() + budget_s
    delay = _BUSY_FIRST_DELAY_S
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as e:
            if not _is_busy(e) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the waiters do not retry in step
        delay = min(delay * 2, _BUSY_MAX_DELAY_S)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or one of its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, ...)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    data["target"] = json.loads(data["target"])
    data["state"] = JobState(data["state"]) if data["state"] in JobState.__members__ else JobState.UNKNOWN
    return JobRecord(**data)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring a store to SCHEMA_VERSION in one transaction; safe when several processes race
    (the second waits for the write lock, then finds the work done)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AccelctlError(f"job store {path} is from a newer accelctl (schema {version})",
                                "upgrade accelctl, or set XDG_STATE_HOME to use another store")
        if version == 0:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
            for statement in (_MIGRATE_V0_TO_V1 if exists else _SCHEMA_V1).split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def default_store() -> JobStore:
    """The user's job store: <XDG state dir>/accelctl/jobs.sqlite."""
    from accelctl import paths

    return JobStore(paths.state_dir() / "jobs.sqlite")
