"""The stream loop's fault handling on its own: a stalled stream is dropped and reopened
after STALL_S; a pool that stops answering ends the follow after GONE_AFTER_S, and a short
outage is retried (each retry reported)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import pytest

from accelctl.backends import streams
from accelctl.backends.base import JobState, JobStatus, StreamDropped
from accelctl.errors import AccelctlError


class Source:
    """A job whose stream stalls (first connection) or whose pool goes away (`down_after`)."""

    def __init__(self, text: str, *, stall_first: bool = False, down: tuple[float, float] | None = None,
                 drops: bool = False) -> None:
        self.text, self.stall_first, self.down = text, stall_first, down
        self.drops = drops  # while down, a stream drops (as a refused connection does) rather than erring
        self.opened = 0
        self.started = time.monotonic()
        self.done = False

    def _check(self) -> None:
        if self.down and self.down[0] <= time.monotonic() - self.started < self.down[1]:
            raise AccelctlError('pool "p": Ray at http://x does not answer: connection refused')

    async def open_log(self, backend_id: str, since: int, *, live: bool) -> AsyncGenerator[tuple[int, str], None]:
        try:
            self._check()
        except AccelctlError as e:
            if self.drops and live:
                raise StreamDropped(e.message) from None
            raise
        self.opened += 1
        half = len(self.text) // 2
        yield 0, self.text[:half]
        if live and self.stall_first and self.opened == 1:
            await asyncio.sleep(3600)  # open, silent
        if live and not self.done:
            await asyncio.sleep(0.3)
            self._check()
            return
        yield half, self.text[half:]

    async def status(self, backend_id: str) -> JobStatus:
        self._check()
        if time.monotonic() - self.started > 1.0:
            self.done = True
        return JobStatus(JobState.SUCCEEDED if self.done else JobState.RUNNING, 0 if self.done else None, "")


async def collect(source: Source, notices: list[str]) -> str:
    def notice(message: str, *, reconnect: bool = False) -> None:
        notices.append(message)

    return "".join([b.text async for b in streams.follow(source, "j", live=True, notice=notice)])


TEXT = "".join(f"{i}\n" for i in range(1000)) + "end"


async def test_a_stall_is_detected_within_stall_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "STALL_S", 0.5)
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    notices: list[str] = []
    started = time.monotonic()
    assert await collect(Source(TEXT, stall_first=True), notices) == TEXT
    assert time.monotonic() - started < 3
    assert [n for n in notices if "stalled" in n] == ["log stream dropped (stalled: no data for 0.5 s); reconnecting"]


async def test_a_short_outage_is_retried_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    notices: list[str] = []
    assert await collect(Source(TEXT, down=(0.2, 0.6)), notices) == TEXT
    assert len([n for n in notices if n.startswith("pool did not answer")]) >= 1


async def test_a_pool_gone_for_good_ends_the_follow_in_gone_after_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "GONE_AFTER_S", 1.0)
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    started = time.monotonic()
    with pytest.raises(AccelctlError, match="does not answer"):
        await collect(Source(TEXT, down=(0.2, 1e9)), [])
    assert time.monotonic() - started < 2.5


async def test_an_outage_is_said_once_however_often_it_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams that drop at once while the pool is away are retried every RECONNECT_DELAYS[0]:
    one notice for the outage, not one per retry."""
    monkeypatch.setattr(streams, "GONE_AFTER_S", 1.0)
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    notices: list[str] = []
    with pytest.raises(AccelctlError, match="does not answer"):
        await collect(Source(TEXT, down=(0.2, 1e9), drops=True), notices)
    assert len(notices) == 1 and "does not answer: connection refused" in notices[0], notices
