"""Finished jobs' output, kept by accelctl: gzip files under the XDG state dir.

A pool can go away (the local pool is restarted, a cluster is torn down) while its
jobs' records stay. Once a job has ended its output is copied here, so `accelctl logs`
of a finished job needs no backend at all. The archive has a size cap: the oldest
archives go first when it is exceeded; `accelctl jobs --prune` removes finished jobs
and their archives.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

DEFAULT_CAP_BYTES = 1 << 30  # 1 GiB of compressed output in all
CAP_ENV = "ACCELCTL_LOG_ARCHIVE_MB"  # a different cap, in MB (10^6 bytes)
_READ_CHUNK = 1 << 20  # characters per chunk read back


class LogArchive:
    """One gzip file per job in `root` (`<job id>.log.gz`); writes are atomic."""

    def __init__(self, root: Path, cap_bytes: int | None = None) -> None:
        self.root = root
        if cap_bytes is None:
            configured = os.environ.get(CAP_ENV, "")
            cap_bytes = int(float(configured) * 10**6) if configured.replace(".", "", 1).isdigit() \
                else DEFAULT_CAP_BYTES
        self.cap_bytes = cap_bytes

    def path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.log.gz"

    def has(self, job_id: str) -> bool:
        return self.path(job_id).is_file()

    @contextmanager
    def writer(self, job_id: str) -> Iterator[TextIO]:
        """A file to write a job's output into; it replaces any earlier copy only once the
        block ends without an error (nothing half-written is ever kept)."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(job_id)
        partial = final.with_name(f".{final.name}.{os.getpid()}")
        try:
            with gzip.open(partial, "wt", encoding="utf-8", errors="surrogateescape", newline="") as f:
                yield f
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        self.enforce_cap(keep=job_id)

    def read(self, job_id: str) -> Iterator[str]:
        """A kept output in chunks, exactly as written."""
        with gzip.open(self.path(job_id), "rt", encoding="utf-8", errors="surrogateescape", newline="") as f:
            while chunk := f.read(_READ_CHUNK):
                yield chunk

    def remove(self, job_id: str) -> bool:
        """Forget one job's output; True if there was one."""
        try:
            self.path(job_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def enforce_cap(self, keep: str | None = None) -> list[str]:
        """Drop the oldest archives until the total is within the cap (never `keep`); their job ids."""
        if not self.root.is_dir():
            return []
        files = sorted(self.root.glob("*.log.gz"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        dropped = []
        for path in files:
            if total <= self.cap_bytes:
                break
            job_id = path.name.removesuffix(".log.gz")
            if job_id == keep:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            dropped.append(job_id)
        return dropped


def default_archive() -> LogArchive:
    """The user's archive: <XDG state dir>/accelctl/logs."""
    from accelctl import paths

    return LogArchive(paths.state_dir() / "logs")
