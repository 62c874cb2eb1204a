"""Turning a character stream that arrives in arbitrary chunks into exact lines.

Chunks may end mid-line; a reconnected stream may replay from its start. The
splitter keeps the absolute position, drops what a replay repeats, and yields
each line once. Lines split on "\\n" only, so "\\r" progress updates pass through
inside their line as the job wrote them.
"""

from __future__ import annotations

from accelctl.backends.base import LogLine


class LineSplitter:
    """Chunks in, complete lines out, with resume after a replaying reconnect."""

    def __init__(self, start: int = 0) -> None:
        self.position = start  # characters of the stream taken in so far
        self._partial = ""
        self._replay_left = 0  # characters a restarted stream repeats, to drop

    def restart(self, stream_start: int = 0) -> None:
        """A new connection begins; its first character is at `stream_start`."""
        self._replay_left = max(0, self.position - stream_start)

    def feed(self, chunk: str) -> list[LogLine]:
        """Take in a chunk; return the lines it completes."""
        if self._replay_left:
            dropped = min(len(chunk), self._replay_left)
            self._replay_left -= dropped
            chunk = chunk[dropped:]
        if not chunk:
            return []
        start = self.position - len(self._partial)
        self.position += len(chunk)
        text = self._partial + chunk
        parts = text.split("\n")
        self._partial = parts.pop()
        lines = []
        offset = start
        for part in parts:
            offset += len(part) + 1
            lines.append(LogLine(part, offset))
        return lines

    def flush(self) -> list[LogLine]:
        """The last line if it had no newline (the stream is over)."""
        if not self._partial:
            return []
        line = LogLine(self._partial, self.position, complete=False)
        self._partial = ""
        return [line]
