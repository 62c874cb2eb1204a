"""Chunks -> exact lines, whatever the chunking, through replaying reconnects."""

from __future__ import annotations

import random

import pytest

from accelctl.backends.base import LogBatch, StreamDropped
from accelctl.backends.ray import PreambleFilter
from accelctl.backends.streams import LineSplitter

TEXT = "".join(f"line {i}\n" for i in range(2000)) + "progress 10%\rprogress 100%\n" + "x" * 1_500_000 + "\nend"


def chunks(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.choice([1, 3, 17, 4096, 20000, 300000])
        out.append(text[i:i + n])
        i += n
    return out


def collect(splitter: LineSplitter, pieces: list[str], at: int = 0) -> str:
    """Feed pieces that follow each other from position `at`; the text of the lines they complete."""
    out = []
    for piece in pieces:
        batch = splitter.feed(at, piece)
        at += len(piece)
        if batch:
            out.append(batch.text)
    return "".join(out)


def test_any_chunking_gives_the_same_text() -> None:
    for seed in range(5):
        splitter = LineSplitter()
        text = collect(splitter, chunks(TEXT, random.Random(seed)))
        last = splitter.flush()
        assert text + last.text == TEXT and last.partial and last.end == len(TEXT)
    assert "progress 10%\rprogress 100%" in TEXT.split("\n")


def test_replaying_reconnects_never_repeat_or_skip() -> None:
    rng = random.Random(42)
    splitter = LineSplitter()
    text = ""
    cut = 0
    while cut < len(TEXT):
        cut = min(len(TEXT), cut + rng.randint(1, 400_000))
        # each connection replays from the start of the log up to what exists so far
        text += collect(splitter, chunks(TEXT[:cut], rng))
    text += splitter.flush().text
    assert text == TEXT


def test_offsets_resume_exactly() -> None:
    splitter = LineSplitter()
    first = splitter.feed(0, "a\nbb\ncc")
    assert first == LogBatch(["a", "bb"], 5)
    resumed = LineSplitter(start=first.end)
    assert resumed.feed(0, "a\nbb\nccc\ndddd\n") == LogBatch(["ccc", "dddd"], 14)
    tail = LineSplitter()
    assert tail.feed(0, "no newline") is None
    assert tail.flush() == LogBatch(["no newline"], 10, partial=True, resume=0)


def test_a_stream_that_skips_ahead_is_a_drop_not_a_gap() -> None:
    splitter = LineSplitter(start=5)
    with pytest.raises(StreamDropped, match="skipped from position 5 to 9"):
        splitter.feed(9, "late\n")


def test_an_unfinished_line_is_rewound_for_the_next_stream() -> None:
    splitter = LineSplitter()
    assert splitter.feed(0, "one\ntw") == LogBatch(["one"], 4)
    splitter.rewind_partial()
    assert splitter.position == 4
    assert splitter.feed(0, "one\ntwo\n") == LogBatch(["two"], 8)


def test_ray_supervisor_lines_are_kept_out_wherever_they_land() -> None:
    notices: list[str] = []
    entrypoint = "python3 -c 'print(1)\nprint(2)'"
    raw = ["2026-11-28 03:42:34,701\tINFO job_manager.py:581 -- Runtime env is setting up.",
           "out 1",  # a quick job can print before Ray's echo of the entrypoint
           "Running entrypoint for job j1: python3 -c 'print(1)", "print(2)'",
           "out 2", "Running entrypoint for job j1: python3 -c 'print(1)"]  # later: the job's own text
    f = PreambleFilter(notices.append, "j1", entrypoint)
    first, second = f.filter(LogBatch(raw[:3], 10)), f.filter(LogBatch(raw[3:], 20))
    assert first == LogBatch(["out 1"], 10) and second == LogBatch(["out 2", raw[-1]], 20)
    assert notices == ["ray: Runtime env is setting up."]
    assert f.filter(LogBatch([raw[0]], 30)) == LogBatch([raw[0]], 30)  # after the echo, nothing is touched
