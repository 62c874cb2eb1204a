"""Exact log streams: the one reconnect / resume loop every backend uses.

A backend supplies two things (`LogSource`): "open a stream of the job's output from
position P" and "the job's status". `follow` turns them into batches of lines that
are exact across dropped connections, streams that close while the job still runs,
and servers that replay from the start: every line once, none skipped, and a
reconnect reported once to the user.

Chunks may end mid-line. Lines split on "\\n" only, so a "\\r" progress update stays
inside its line as it was served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Protocol, TypeVar

from accelctl.backends.base import JobState, JobStatus, LogBatch, Notice, Position, StreamDropped
from accelctl.errors import AccelctlError, InvalidInput

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds; the last repeats while nothing arrives
# A live stream that brings nothing for this long while the job runs is taken for stalled
# (a connection that stays open but forwards nothing): it is dropped and reopened. A source
# whose transport finds dead connections itself says so with `stall_after_s = None`.
STALL_S = 60.0
# A pool that does not answer (status, snapshot or stream errors) for this long while
# following ends the follow with its error; shorter outages are retried.
GONE_AFTER_S = 10.0

T = TypeVar("T")


class LogSource(Protocol):
    """What a backend gives the stream loop."""

    def open_log(self, backend_id: str, since: Position, *, live: bool) -> AsyncGenerator[tuple[Position, str], None]:
        """Chunks of the job's output, each with the position of its first character.

        The first chunk may start before `since` (a server that replays): the loop drops
        what it already has. `live=False`: what exists now, then stop. `live=True`: keep
        going as the job writes, until the connection ends; raise StreamDropped when it
        ends abnormally.
        """
        ...

    async def status(self, backend_id: str) -> JobStatus:
        """The job's current state."""
        ...


class LineSplitter:
    """Positioned chunks in, batches of complete lines out; what a replay repeats is dropped."""

    def __init__(self, start: Position = 0) -> None:
        self.position = start  # characters of the stream taken in so far
        self._partial = ""

    def feed(self, at: Position, chunk: str) -> LogBatch | None:
        """Take in `chunk`, whose first character is at `at`; return the lines it completes."""
        if at < self.position:
            chunk = chunk[self.position - at:]
        elif at > self.position:
            raise StreamDropped(f"the stream skipped from position {self.position} to {at}")
        if not chunk:
            return None
        self.position += len(chunk)
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        if not lines:
            return None
        return LogBatch(lines, self.position - len(self._partial))

    def flush(self) -> LogBatch | None:
        """The last line if it had no newline; `resume` points at its start."""
        if not self._partial:
            return None
        partial, self._partial = self._partial, ""
        return LogBatch([partial], self.position, partial=True, resume=self.position - len(partial))

    def rewind_partial(self) -> None:
        """Forget an unfinished last line, so that the next stream delivers it whole."""
        self.position -= len(self._partial)
        self._partial = ""


async def follow(source: LogSource, backend_id: str, *, live: bool, since: Position = 0,
                 notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
    """The job's output from `since`, in batches of lines.

    Without `live` (or once the job has ended): one snapshot, its unfinished last line
    as a partial batch. With `live`: reconnect whenever a stream ends or stalls (STALL_S
    without data) while the job runs, backing off while nothing arrives; when the job
    ends, one last snapshot closes any gap the live stream left. An AccelctlError from the
    pool (it does not answer) is retried for GONE_AFTER_S, then ends the follow.
    """
    splitter = LineSplitter(since)
    if not live or (await source.status(backend_id)).state.terminal:
        async for snapshot_batch in _snapshot(source, backend_id, splitter):
            yield snapshot_batch
        return
    outage = _Outage(notice)
    attempt = 0
    while True:
        started_at, dropped = splitter.position, False
        try:
            async with aclosing(source.open_log(backend_id, splitter.position, live=True)) as stream:
                async for at, chunk in _stall_guard(stream, getattr(source, "stall_after_s", STALL_S)):
                    batch = splitter.feed(at, chunk)
                    if batch:
                        yield batch
        except StreamDropped as e:
            dropped = True
            # While the pool does not answer, each retry's stream drops again: one outage, said once.
            if notice and not outage.ongoing:
                notice(f"log stream dropped ({e or 'connection lost'}); reconnecting", reconnect=True)
        except AccelctlError as e:
            dropped = True
            outage.failed(e)
        received = splitter.position > started_at  # new output came, even if no whole line yet
        splitter.rewind_partial()  # the next stream (or the snapshot) brings that line whole
        try:
            status = await source.status(backend_id)
        except AccelctlError as e:
            outage.failed(e, noticed=dropped)
            await asyncio.sleep(RECONNECT_DELAYS[0])
            continue
        outage.over()
        if status.state.terminal:
            while True:
                try:
                    async for snapshot_batch in _snapshot(source, backend_id, splitter):
                        yield snapshot_batch
                    return
                except AccelctlError as e:
                    splitter.rewind_partial()
                    outage.failed(e)
                    await asyncio.sleep(RECONNECT_DELAYS[0])
        attempt = 0 if received else attempt + 1
        await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
        # A stream that closes while the job still waits has nothing to resume: no line for it.
        if notice and not dropped and (received or status.state != JobState.PENDING):
            notice(f"log stream closed while the job is {status.state.lower()}; resuming at offset "
                   f"{splitter.position}", reconnect=True)


class _Outage:
    """Errors from a pool while following: each reported once, fatal after GONE_AFTER_S."""

    def __init__(self, notice: Notice | None) -> None:
        self.notice = notice
        self.since: float | None = None

    def failed(self, error: AccelctlError, *, noticed: bool = False) -> None:
        """Report `error` (unless already reported) and re-raise it once the outage is too long
        or the error is the user's to fix."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if isinstance(error, InvalidInput) or now - self.since >= GONE_AFTER_S:
            raise error
        if self.notice and not noticed:
            self.notice(f"pool did not answer ({error.message}); retrying", reconnect=True)

    @property
    def ongoing(self) -> bool:
        """Whether the pool has failed since it last answered."""
        return self.since is not None

    def over(self) -> None:
        self.since = None


async def _stall_guard(stream: AsyncIterator[T], stall_after_s: float | None) -> AsyncGenerator[T, None]:
    """The stream's items; StreamDropped when none comes for `stall_after_s` (None: never)."""
    iterator = aiter(stream)
    while True:
        try:
            item = await asyncio.wait_for(anext(iterator), stall_after_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise StreamDropped(f"stalled: no data for {stall_after_s:g} s") from None
        yield item


async def _snapshot(source: LogSource, backend_id: str, splitter: LineSplitter) -> AsyncGenerator[LogBatch, None]:
    async with aclosing(source.open_log(backend_id, splitter.position, live=False)) as stream:
        async for at, chunk in stream:
            batch = splitter.feed(at, chunk)
            if batch:
                yield batch
    if last := splitter.flush():
        yield last


async def merge(open_one: Callable[[int, Position, Notice | None], AsyncGenerator[LogBatch, None]],
                since: list[Position], pack: Callable[[list[Position]], Position],
                notice: Notice | None) -> AsyncGenerator[tuple[int, LogBatch], None]:
    """Several hosts' (or pods') streams at once, each opened with `open_one(i, since[i], notice)`,
    as (i, batch) in arrival order; each batch's `end` and `resume` are every stream's position
    packed by `pack`, so a later merge resumes each stream where it was. A stream's notices are
    prefixed `[i] `; the first error of any stream ends the merge, the others are cancelled."""
    ends, resumes = list(since), list(since)
    queue: asyncio.Queue[tuple[int, LogBatch | BaseException | None]] = asyncio.Queue(maxsize=64)

    def prefixed(i: int) -> Notice:
        def say(message: str, *, reconnect: bool = False) -> None:
            if notice:
                notice(f"[{i}] {message}", reconnect=reconnect)
        return say

    async def pump(i: int) -> None:
        try:
            async with aclosing(open_one(i, since[i], prefixed(i))) as batches:
                async for batch in batches:
                    await queue.put((i, batch))
            await queue.put((i, None))
        except Exception as e:  # noqa: BLE001 (handed to the reader, which raises it)
            await queue.put((i, e))

    tasks = [asyncio.create_task(pump(i)) for i in range(len(since))]
    try:
        running = len(since)
        while running:
            i, item = await queue.get()
            if item is None:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            ends[i], resumes[i] = item.end, item.resume_at
            yield i, LogBatch(item.lines, pack(ends), item.partial, pack(resumes))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
