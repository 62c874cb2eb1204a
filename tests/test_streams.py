"""Chunks -> exact lines, whatever the chunking, through replaying reconnects."""

from __future__ import annotations

import random

from accelctl.backends.streams import LineSplitter

TEXT = "".join(f"line {i}\n" for i in range(2000)) + "progress 10%\rprogress 100%\n" + "x" * 1_500_000 + "\nend"


def chunks(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.choice([1, 3, 17, 4096, 20000, 300000])
        out.append(text[i:i + n])
        i += n
    return out


def collect(splitter: LineSplitter, pieces: list[str]) -> list[str]:
    return [line.text for piece in pieces for line in splitter.feed(piece)]


def test_any_chunking_gives_the_same_lines() -> None:
    expected = TEXT.split("\n")
    for seed in range(5):
        splitter = LineSplitter()
        lines = collect(splitter, chunks(TEXT, random.Random(seed))) + [l.text for l in splitter.flush()]
        assert lines == expected
    assert "progress 10%\rprogress 100%" in expected and len(max(expected, key=len)) == 1_500_000


def test_replaying_reconnects_never_repeat_or_skip() -> None:
    rng = random.Random(42)
    splitter = LineSplitter()
    lines: list[str] = []
    cut = 0
    while cut < len(TEXT):
        cut = min(len(TEXT), cut + rng.randint(1, 400_000))
        # each connection replays from the start of the log up to what exists so far
        lines += collect(splitter, chunks(TEXT[:cut], rng))
        splitter.restart(0)
    lines += [l.text for l in splitter.flush()]
    assert lines == TEXT.split("\n")


def test_offsets_resume_exactly() -> None:
    splitter = LineSplitter()
    lines = splitter.feed("a\nbb\nccc\n")
    assert [(l.text, l.offset) for l in lines] == [("a", 2), ("bb", 5), ("ccc", 9)]
    resumed = LineSplitter(start=lines[1].offset)
    resumed.restart(0)
    assert [l.text for l in resumed.feed("a\nbb\nccc\ndddd\n")] == ["ccc", "dddd"]
    tail = LineSplitter()
    assert tail.feed("no newline") == [] and [(l.text, l.complete) for l in tail.flush()] == [("no newline", False)]


def test_ray_supervisor_lines_are_kept_out_wherever_they_land() -> None:
    from accelctl.backends.base import LogLine
    from accelctl.backends.ray import PreambleFilter

    notices: list[str] = []
    entrypoint = "python3 -c 'print(1)\nprint(2)'"
    raw = ["2026-11-28 03:42:34,701\tINFO job_manager.py:581 -- Runtime env is setting up.",
           "out 1",  # a quick job can print before Ray's echo of the entrypoint
           "Running entrypoint for job j1: python3 -c 'print(1)", "print(2)'",
           "out 2", "Running entrypoint for job j1: python3 -c 'print(1)"]  # later: the job's own text
    lines = [LogLine(t, i) for i, t in enumerate(raw)]
    f = PreambleFilter(notices.append, "j1", entrypoint)
    kept = f.filter(lines[:3]) + f.filter(lines[3:])
    assert [l.text for l in kept] == ["out 1", "out 2", raw[-1]]
    assert notices == ["ray: Runtime env is setting up."]
