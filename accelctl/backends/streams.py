"""Turning a character stream that arrives in arbitrary chunks into exact lines.

Chunks may end mid-line; a reconnected stream may replay from its start. The
splitter keeps the absolute position, drops what a replay repeats, and yields
each line once. Lines split on "\\n" only, so a "\\r" progress update stays
inside its line as it was served.
"""

from __future__ import annotations

from accelctl.backends.base import LogBatch


class LineSplitter:
    """Chunks in, batches of complete lines out, with resume after a replaying reconnect."""

    def __init__(self, start: int = 0) -> None:
        self.position = start  # characters of the stream taken in so far
        self._partial = ""
        self._replay_left = 0  # characters a restarted stream repeats, to drop

    def restart(self, stream_start: int = 0) -> None:
        """A new connection begins; its first character is at `stream_start`."""
        self._replay_left = max(0, self.position - stream_start)

    def feed(self, chunk: str) -> LogBatch | None:
        """Take in a chunk; return the lines it completes, if any."""
        if self._replay_left:
            dropped = min(len(chunk), self._replay_left)
            self._replay_left -= dropped
            chunk = chunk[dropped:]
        if not chunk:
            return None
        self.position += len(chunk)
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        if not lines:
            return None
        return LogBatch(lines, self.position - len(self._partial))

    def flush(self) -> LogBatch | None:
        """The last line if it had no newline (the stream is over)."""
        if not self._partial:
            return None
        batch = LogBatch([self._partial], self.position, partial=True)
        self._partial = ""
        return batch
