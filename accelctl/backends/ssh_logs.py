"""The ssh backend's logs: each rank's `log` file followed by byte offset, ranks merged.

`tail -c +N -f --pid` on the host streams one rank's log from byte N; the shared loop in
`streams.follow` reconnects and resumes. Offsets are bytes: the text is carried as latin-1
(one character per byte) through the loop and decoded as UTF-8 line by line at the end. A
job on several hosts is one stream per host, merged with a `[rank] ` prefix; its position
packs each host's offset into one integer (48 bits per host).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Protocol

from accelctl.backends import ssh_conn, streams
from accelctl.backends.base import JobStatus, LogBatch, Notice, Position, StreamDropped
from accelctl.backends.ssh_conn import Connections
from accelctl.errors import AccelctlError

_TAIL_POLL_S = 0.1  # how often `tail -f` looks for new output
_BITS = 48  # bits of a packed multi-host position per host
_MASK = (1 << _BITS) - 1


class SshJobs(Protocol):
    """What the logs need of the ssh backend (`ssh.SshBackend`, which imports this module)."""

    pool_name: str
    connections: Connections

    def _job_hosts(self, backend_id: str) -> list[str]: ...

    def _dir(self, backend_id: str, rank: int | None = None) -> str: ...

    async def rank_status(self, backend_id: str, rank: int) -> JobStatus: ...


def pack(offsets: list[int]) -> Position:
    """One position for several hosts' byte offsets."""
    return sum(o << (_BITS * i) for i, o in enumerate(offsets))


def unpack(position: Position, hosts: int) -> list[int]:
    return [(position >> (_BITS * i)) & _MASK for i in range(hosts)]


def _utf8(batch: LogBatch, prefix: str = "") -> LogBatch:
    """A batch carried as latin-1 (bytes), decoded as UTF-8, with an optional line prefix."""
    lines = batch.lines
    joined = "\n".join(lines)
    if not joined.isascii():
        lines = joined.encode("latin-1").decode("utf-8", "replace").split("\n")
    if prefix:
        lines = [prefix + line for line in lines]
    return batch._replace(lines=lines)


def logs(backend: SshJobs, backend_id: str, *, follow: bool, since: Position = 0,
         notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
    """A job's log (the backend contract's `logs`): one host's stream, or every rank's merged."""
    hosts = backend._job_hosts(backend_id)
    if len(hosts) == 1:
        return _single(backend, backend_id, follow, since, notice)
    return _merged(backend, backend_id, len(hosts), follow, since, notice)

async def _single(backend: SshJobs, backend_id: str, follow: bool, since: Position,
                  notice: Notice | None) -> AsyncGenerator[LogBatch, None]:
    source = HostLog(backend, 0)
    async with aclosing(streams.follow(source, backend_id, live=follow, since=since, notice=notice)) as batches:
        async for batch in batches:
            yield _utf8(batch)

async def _merged(backend: SshJobs, backend_id: str, nodes: int, follow: bool, since: Position,
                  notice: Notice | None) -> AsyncGenerator[LogBatch, None]:
    """Every rank's stream at once, lines prefixed with the rank, positions packed."""
    def open_one(rank: int, at: Position, say: Notice | None) -> AsyncGenerator[LogBatch, None]:
        return streams.follow(HostLog(backend, rank), backend_id, live=follow, since=at, notice=say)

    async with aclosing(streams.merge(open_one, unpack(since, nodes), pack, notice)) as batches:
        async for rank, batch in batches:
            # A rank's unfinished last line is shown as a line of its own; resuming repeats it.
            yield _utf8(batch._replace(partial=False), f"[{rank}] ")


class HostLog:
    """One rank's log as a `streams.LogSource`: chunks of its `log` file by byte offset."""

    def __init__(self, backend: SshJobs, rank: int) -> None:
        self.backend = backend
        self.rank = rank

    async def status(self, backend_id: str) -> JobStatus:
        return await self.backend.rank_status(backend_id, self.rank)

    async def open_log(self, backend_id: str, since: Position, *,
                       live: bool) -> AsyncGenerator[tuple[Position, str], None]:
        import paramiko

        backend = self.backend
        host = backend._job_hosts(backend_id)[self.rank]
        directory = backend._dir(backend_id, self.rank)
        follow = f'-s {_TAIL_POLL_S} --pid="$(cat pid)" -f ' if live else ""
        command = f"cd {directory} && exec tail -c +{since + 1} {follow}log"
        try:
            channel = await asyncio.to_thread(lambda: ssh_conn.open_stream(backend.connections.client(host), command))
        except (paramiko.SSHException, OSError, EOFError) as e:
            backend.connections.drop(host)
            if live:
                raise StreamDropped(f"{host}: {e}") from None
            raise AccelctlError(f'pool "{backend.pool_name}": lost the connection to {host}: {e}') from None
        except AccelctlError as e:
            if live:  # the host may come back: the loop asks for the job's state, then retries
                raise StreamDropped(e.message) from None
            raise
        at = since
        try:
            while True:
                try:
                    data = await asyncio.to_thread(channel.recv, 1 << 20)
                except (paramiko.SSHException, OSError, EOFError) as e:
                    backend.connections.drop(host)
                    raise StreamDropped(f"{host}: {e}") from None
                if not data:
                    break
                yield at, data.decode("latin-1")
                at += len(data)
            code = await asyncio.to_thread(channel.recv_exit_status)  # -1: closed without one
            transport = channel.get_transport()
            if code == -1 or transport is None or not transport.is_active():
                backend.connections.drop(host)
                if live:
                    raise StreamDropped(f"connection to {host} lost")
                raise AccelctlError(f'pool "{backend.pool_name}": lost the connection to {host}')
            if code != 0:
                err = channel.recv_stderr(4096).decode(errors="replace").strip()
                if live:
                    raise StreamDropped(f"{host}: tail ended with {code}: {err}")
                raise AccelctlError(f'pool "{backend.pool_name}": cannot read the log of {backend_id} on '
                                    f"{host}: {err or code}")
        finally:
            channel.close()
