"""A TCP proxy for fault injection: between accelctl and a backend, it cuts connections at
random points (seeded, so a failure replays) and can stall them (stop forwarding, socket open).

It runs its own event loop in a thread, so a test can point a subprocess at it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field


@dataclass
class Cut:
    """One connection the proxy cut: what the client asked and how many reply bytes it got."""

    request: str
    after_bytes: int


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:<port> to `target`. While `cuts_left` > 0, each connection gets a
    random reply-byte budget; a connection that reaches it is closed there (mid-message),
    both ways. `stall()` stops forwarding on every open connection and new ones."""

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

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

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
                    if reply and budget is not None and sent + len(data) >= budget and self.cuts_left > 0:
                        writer.write(data[:budget - sent])
                        await writer.drain()
                        self.cuts_left -= 1
                        self.cuts.append(Cut(bytes(first).split(b"\r\n", 1)[0].decode(errors="replace"), budget))
                        break
                    sent += len(data)
                    if reply:
                        self.longest_reply = max(self.longest_reply, sent)
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                done.set()
                for w in (client_w, server_w):
                    w.close()

        await asyncio.gather(pump(client_r, server_w, False), pump(server_r, client_w, True))
