"""Logs of a Kubernetes job: every pod's output, merged, each pod resumed exactly.

Each pod is one stream for the shared loop in `streams.follow` (reconnects, snapshots,
partial lines live there, once). This module supplies the pod's side of it:

- Kubernetes has no byte offset for logs and the Python client no `since_time`; each
  line comes with `timestamps=True`. A reconnect asks for `since_seconds` (with slack)
  back from the last line's stamp and drops what it already has: lines stamped before
  it, and as many stamped the same as were already taken (stamps need not be unique).
- A position given from outside (`since`) is a character offset into the pod's output:
  the log is read from the start and the loop drops what lies before it.

Several pods: lines are prefixed `[i] ` by completion index, and the job's position packs
each pod's offset into one integer (opaque above backends/).
"""

from __future__ import annotations

import asyncio
import calendar
import json
import math
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from accelctl.backends import streams
from accelctl.backends.base import JobState, JobStatus, LogBatch, Notice, Position, StreamDropped
from accelctl.errors import AccelctlError

SLACK_S = 2  # seconds added to since_seconds: clocks differ, seconds round
READ_TIMEOUT_S = 60.0  # a silent follow is closed and reopened; a silent snapshot is an error
_SHIFT = 64  # bits per pod offset in a packed position


def pack(offsets: list[int]) -> Position:
    """Per-pod character offsets as one position."""
    return sum(offset << (_SHIFT * i) for i, offset in enumerate(offsets))


def unpack(position: Position, pods: int) -> list[int]:
    """The per-pod offsets of a packed position."""
    mask = (1 << _SHIFT) - 1
    return [(position >> (_SHIFT * i)) & mask for i in range(pods)]


_SECONDS_CACHE: dict[str, int] = {}


def stamp_ns(stamp: str) -> int:
    """An RFC 3339 stamp ("2026-11-28T10:00:00.12345Z") as nanoseconds since the epoch.
    Compared as numbers: Go drops the fraction's trailing zeros, so strings do not sort."""
    base, _, frac = stamp.rstrip("Z").partition(".")
    seconds = _SECONDS_CACHE.get(base)
    if seconds is None:
        seconds = calendar.timegm(time.strptime(base[:19], "%Y-%m-%dT%H:%M:%S"))
        if len(_SECONDS_CACHE) > 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[base] = seconds
    return seconds * 10**9 + int((frac or "0")[:9].ljust(9, "0"))


@dataclass
class Mark:
    """How far a pod's output was taken: the last line's stamp, how many lines carried that
    stamp, and the offset just after them."""

    ts: int = -1
    same: int = 0
    end: int = 0

    def copy(self) -> Mark:
        """A copy that stays as it is (a reader's own mark moves on with each line it reads)."""
        return Mark(self.ts, self.same, self.end)


class PodLog:
    """One pod's log as a `streams.LogSource` (the `backend_id` it is given is the pod name)."""

    def __init__(self, api: Any, namespace: str, errors: Callable[[Exception, str], AccelctlError]) -> None:
        self.api = api  # what KubernetesBackend gives: .core() and .blocking()
        self.namespace = namespace
        self.errors = errors
        self.marks: dict[str, Mark] = {}

    async def status(self, backend_id: str) -> JobStatus:
        pod = await self.api.read_pod(backend_id)
        if pod is None:
            return JobStatus(JobState.CANCELLED, message="pod deleted")
        phase = pod.get("status", {}).get("phase")
        if phase == "Succeeded":
            return JobStatus(JobState.SUCCEEDED, 0)
        if phase == "Failed":
            return JobStatus(JobState.FAILED, pod_exit_code(pod))
        return JobStatus(JobState.RUNNING if phase == "Running" else JobState.PENDING)

    async def open_log(self, backend_id: str, since: Position, *,
                       live: bool) -> AsyncGenerator[tuple[Position, str], None]:
        if live and not await self._started(backend_id):
            return
        mark = self.marks.get(backend_id)
        resume = mark is not None and mark.end == since and mark.ts >= 0
        kwargs: dict[str, Any] = {"timestamps": True, "follow": live, "_preload_content": False,
                                  "_request_timeout": (10, READ_TIMEOUT_S)}
        if resume:
            assert mark is not None
            kwargs["since_seconds"] = max(1, math.ceil(time.time() - mark.ts / 1e9) + SLACK_S)
        try:
            response = await asyncio.to_thread(self.api.core().read_namespaced_pod_log, backend_id, self.namespace,
                                               **kwargs)
        except Exception as e:  # noqa: BLE001 (sorted by self.errors: gone, refused, unreachable)
            if _gone_or_waiting(e):
                return
            error = self.errors(e, f"pod {backend_id} log")
            raise StreamDropped(error.message) if live else error from None
        reader = _Reader(response, mark if mark is not None and resume else Mark(), since if resume else 0)
        taken = reader.mark.copy()  # the mark of what was yielded (the reader's runs ahead in its thread)
        ended = False
        try:
            while True:
                try:
                    piece = await asyncio.to_thread(reader.next)
                except TimeoutError:
                    if live:
                        return  # silent for READ_TIMEOUT_S: the loop checks the pod and reopens
                    # A finished pod's log that stops mid-way is stalled, not complete.
                    raise AccelctlError(f"pod {backend_id} log: nothing came for {READ_TIMEOUT_S:g} s",
                                        "is the API server overloaded?") from None
                except OSError as e:
                    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                    # A snapshot is not a live stream: a cut one is the pool not answering (the contract).
                    raise StreamDropped(reason) if live else self.errors(e, f"pod {backend_id} log") from None
                if piece is None:
                    ended = True
                    break
                taken = reader.mark.copy()
                yield piece
        finally:
            self.marks[backend_id] = taken
            if ended:
                response.release_conn()
            else:
                # Left mid-response (a stall, a cut, the consumer gone): a worker thread may still
                # be blocked reading it. Shut the socket so that thread wakes and the connection is
                # never handed to another request with half a response in it.
                _abandon(response)

    async def _started(self, pod_name: str) -> bool:
        """Wait while the pod is Pending (its log does not exist yet); False if it went away."""
        while True:
            pod = await self.api.read_pod(pod_name)
            if pod is None:
                return False
            if pod.get("status", {}).get("phase") != "Pending":
                return True
            await asyncio.sleep(0.5)


class _Reader:
    """Turns a timestamped log response into positioned chunks, dropping what `mark` covers."""

    def __init__(self, response: Any, mark: Mark, at: int) -> None:
        self.response = response
        self.chunks = response.stream(64 * 1024, decode_content=True)
        self.mark = Mark(mark.ts, mark.same, mark.end)
        self.skip_ts, self.skip_n = mark.ts, mark.same  # a resume drops these again
        self.at = at
        self.pending = b""

    def next(self) -> tuple[int, str] | None:
        """The next chunk (position, text), or None at the end of the response."""
        import urllib3

        while True:
            try:
                data = next(self.chunks, None)
            except urllib3.exceptions.ReadTimeoutError:
                raise TimeoutError from None
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise OSError(f"connection lost: {type(e).__name__}") from None
            if data is None:
                if not self.pending:
                    return None
                data, self.pending = self.pending + b"\n", b""
                return self._lines([data[:-1]], last_partial=True)
            self.pending += data
            *lines, self.pending = self.pending.split(b"\n")
            piece = self._lines(lines, last_partial=False)
            if piece is not None:
                return piece

    def _lines(self, lines: list[bytes], last_partial: bool) -> tuple[int, str] | None:
        texts: list[str] = []
        mark = self.mark
        for n, raw in enumerate(lines):
            stamp, _, text = raw.decode(errors="replace").partition(" ")
            ts = stamp_ns(stamp)
            if ts < self.skip_ts:
                continue
            if ts == self.skip_ts and self.skip_n > 0:
                self.skip_n -= 1
                continue
            self.skip_ts = -1
            partial = last_partial and n == len(lines) - 1
            texts.append(text if partial else text + "\n")
            if not partial:
                mark.same = mark.same + 1 if ts == mark.ts else 1
                mark.ts = ts
        if not texts:
            return None
        start = self.at
        chunk = "".join(texts)
        self.at += len(chunk)
        if not chunk.endswith("\n"):
            mark.end = self.at - len(texts[-1])
        else:
            mark.end = self.at
        return start, chunk


def _abandon(response: Any) -> None:
    """Close a response that was not read to its end, waking a thread blocked reading it."""
    shutdown = getattr(response, "shutdown", None)  # urllib3 2.3 and later
    try:
        if shutdown is not None:
            shutdown()
    except (RuntimeError, ValueError):
        return  # already closed (a read error closes and releases it): no thread is blocked on it
    response.close()


def _gone_or_waiting(error: Exception) -> bool:
    """A log that does not exist (yet, or any more): the pod was deleted or has not started."""
    return getattr(error, "status", None) in (400, 404)


def pod_exit_code(pod: dict[str, Any]) -> int | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode") is not None:
            return int(terminated["exitCode"])
    return None


async def merged(source: PodLog, pods: list[str], *, follow: bool, since: Position,
                 notice: Notice | None) -> AsyncGenerator[LogBatch, None]:
    """The pods' logs as one stream. One pod: its batches as they are. Several: each line
    prefixed `[i] ` (i: the pod's place in `pods`, its completion index), a pod's last line
    without newline given as a whole line."""
    if len(pods) == 1:
        async with aclosing(streams.follow(source, pods[0], live=follow, since=since, notice=notice)) as one:
            async for batch in one:
                yield batch
        return
    def open_one(i: int, at: Position, say: Notice | None) -> AsyncGenerator[LogBatch, None]:
        return streams.follow(source, pods[i], live=follow, since=at, notice=say)

    async with aclosing(streams.merge(open_one, unpack(since, len(pods)), pack, notice)) as batches:
        async for i, batch in batches:
            yield LogBatch([f"[{i}] {line}" for line in batch.lines], batch.end, resume=batch.resume)


def decode(response: Any) -> dict[str, Any]:
    """The JSON body of a raw (not preloaded) response."""
    return dict(json.loads(response.data))
