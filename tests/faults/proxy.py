"""A TCP proxy for fault injection: between accelctl and a backend, it cuts connections at
random points (seeded, so a failure replays) and can stall them (stop forwarding, socket open).

It runs its own event loop in a thread, so a test can point a subprocess at it. `down()` makes
the backend vanish (connections reset, the port refuses), `up()` brings it back on the same port.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Cut:
    """One connection the proxy cut: what the client asked and how many reply bytes it got."""

    request: str
    after_bytes: int


STREAMING = 32 * 1024  # reply bytes within RECENT_S that mark a connection as a stream being read
RECENT_S = 2.0


@dataclass(eq=False)
class _Link:
    """One forwarded connection: when its recent reply chunks came and how long they were, and
    whether its next reply chunk is cut."""

    cut_next: bool = False
    recent: deque[tuple[float, int]] = field(default_factory=deque)

    def replied(self, size: int) -> None:
        now = time.monotonic()
        self.recent.append((now, size))
        while self.recent and self.recent[0][0] < now - RECENT_S:
            self.recent.popleft()

    def streaming(self) -> int:
        """Reply bytes in the last RECENT_S: a log stream brings far more than a reused
        connection that answers status requests."""
        since = time.monotonic() - RECENT_S
        return sum(size for at, size in self.recent if at >= since)


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:<port> to `target`. While `cuts_left` > 0, each connection gets a
    random reply-byte budget; a connection that reaches it is closed there (mid-message),
    both ways. `cut_busiest()` cuts the open connection that carries the most (a log stream)
    inside its next reply chunk, now rather than at a byte count. `stall()` stops forwarding
    on every open connection and new ones."""

    target_host: str
    target_port: int
    seed: int
    cuts_left: int = 0
    ahead: int = 1_500_000  # a budget reaches at most this far past the longest reply so far (a 1.1 MB line fits)
    cuts: list[Cut] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    longest_reply: int = 0
    only: str = ""  # cut only connections whose request line contains this
    within: bool = False  # budgets inside the longest reply so far: every long reply is cut

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._stalled = threading.Event()
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every forwarded connection
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stall(self) -> None:
        self._stalled.set()

    def resume(self) -> None:
        self._stalled.clear()

    def cut_busiest(self) -> bool:
        """Cut the open connection that brought the most reply bytes lately (a log stream), at
        a random point of its next reply chunk (recorded in `cuts` once done); False when no
        connection is streaming (STREAMING bytes in RECENT_S)."""
        return asyncio.run_coroutine_threadsafe(self._mark_busiest(), self._loop).result(10)

    async def _mark_busiest(self) -> bool:
        links = [link for link in self._links if not link.cut_next and link.streaming() >= STREAMING]
        if not links:
            return False
        max(links, key=_Link.streaming).cut_next = True
        return True

    def down(self) -> None:
        """The backend is gone: every open connection is reset and the port refuses new ones."""
        asyncio.run_coroutine_threadsafe(self._down(), self._loop).result(10)

    def up(self) -> None:
        """The backend is back, on the same port."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def close(self) -> None:
        """Stop forwarding; every connection's pumps end before the loop does (no coroutine is
        left to be collected from a closed loop)."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _close(self) -> None:
        await self._down()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()
        if self._server is not None:
            self._server.close()

    async def _listen(self) -> None:
        # asyncio sets SO_REUSEADDR: the port is free again at once after `down`.
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # RST, as a host that died would (no orderly close)

    def _budget(self) -> int | None:
        if self.cuts_left <= 0:
            return None
        # Mostly somewhere in a long reply (a log tail that replays, then follows), sometimes early
        # (in the headers, or a short status reply).
        if self.within:
            return self.rng.randint(1, max(1, self.longest_reply - 1))
        if self.rng.random() < 0.2:
            return self.rng.randint(1, 2000)
        return self.rng.randint(1, self.longest_reply + self.ahead)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.close()
            return
        self._open.update((client_w, server_w))
        link = _Link()
        self._links.add(link)
        budget = self._budget()
        first = bytearray()
        done = asyncio.Event()

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: bool) -> None:
            nonlocal budget
            sent = 0
            try:
                while not done.is_set():
                    data = await reader.read(65536)
                    if not data:
                        break
                    while self._stalled.is_set() and not done.is_set():
                        await asyncio.sleep(0.05)
                    if not reply and len(first) < 200:
                        first.extend(data[:200])
                    request = bytes(first).split(b"\r\n", 1)[0].decode(errors="replace")
                    if reply and self.only and self.only not in request:
                        budget = None
                    elif reply and budget is None and self.cuts_left > 0:  # armed while this connection was open
                        budget = sent + (self._budget() or 0)
                    if reply and link.cut_next:
                        keep = self.rng.randrange(len(data))  # at least its last byte is lost
                        writer.write(data[:keep])
                        await writer.drain()
                        self.cuts.append(Cut(request, sent + keep))
                        break
                    if reply and budget is not None and sent + len(data) >= budget and self.cuts_left > 0:
                        writer.write(data[:budget - sent])
                        await writer.drain()
                        self.cuts_left -= 1
                        self.cuts.append(Cut(bytes(first).split(b"\r\n", 1)[0].decode(errors="replace"), budget))
                        break
                    sent += len(data)
                    if reply:
                        self.longest_reply = max(self.longest_reply, sent)
                        link.replied(len(data))
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                done.set()
                for w in (client_w, server_w):
                    w.close()
                    self._open.discard(w)
                self._links.discard(link)

        await asyncio.gather(pump(client_r, server_w, False), pump(server_r, client_w, True))
