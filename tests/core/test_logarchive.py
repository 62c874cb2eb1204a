"""Finished jobs' output kept by accelctl: exact, atomic, capped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from accelctl.core.logarchive import LogArchive

TEXT = "".join(f"line {i}\n" for i in range(50000)) + "progress 10%\rprogress 100%\n" + "é€\udcff" + "no newline"


def test_output_comes_back_exactly(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path / "logs")
    with archive.writer("abc12345") as out:
        for start in range(0, len(TEXT), 7777):
            out.write(TEXT[start:start + 7777])
    assert archive.has("abc12345") and "".join(archive.read("abc12345")) == TEXT
    assert archive.path("abc12345").stat().st_size < len(TEXT) / 4  # compressed


def test_a_failed_write_keeps_nothing_and_leaves_an_earlier_copy(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path / "logs")
    with archive.writer("abc12345") as out:
        out.write("first copy\n")
    with pytest.raises(RuntimeError), archive.writer("abc12345") as out:
        out.write("half of a second copy")
        raise RuntimeError("the pool went away mid-read")
    assert "".join(archive.read("abc12345")) == "first copy\n"
    with pytest.raises(RuntimeError), archive.writer("def67890") as out:
        raise RuntimeError("nothing read")
    assert not archive.has("def67890") and sorted(os.listdir(tmp_path / "logs")) == ["abc12345.log.gz"]


def test_the_cap_drops_the_oldest_first_but_never_the_newest(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path / "logs", cap_bytes=2500)
    noise = os.urandom(1000).hex()  # does not compress: about 1 kB per archive
    for i, job in enumerate(["old00001", "mid00002", "new00003"]):
        with archive.writer(job) as out:
            out.write(noise)
        os.utime(archive.path(job), (time.time() - 100 + i, time.time() - 100 + i))
    with archive.writer("big00004") as out:
        out.write(os.urandom(3000).hex())
    assert [archive.has(j) for j in ("old00001", "mid00002", "new00003", "big00004")] == [False] * 3 + [True]
    assert archive.remove("big00004") and not archive.remove("big00004")


def test_the_cap_can_be_set_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELCTL_LOG_ARCHIVE_MB", "2.5")
    assert LogArchive(tmp_path).cap_bytes == 2_500_000
