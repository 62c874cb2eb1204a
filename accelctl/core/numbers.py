"""How figures, times and durations read, the same in the CLI and the TUI."""

from __future__ import annotations

import time


def num(value: float | int | None, unit: str = "") -> str:
    """80.0 -> '80', 3.35 -> '3.35', None -> '-' (unknown), with an optional unit."""
    if value is None:
        return "-"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}" if unit else text


def timestamp(ts: float | None) -> str | None:
    """A moment as local time, 2026-11-28T07:48:30; None stays None."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))


def duration(start: float, end: float | None = None) -> str:
    """How long from `start` to `end` (default: now): 4m05s, or 2h03m past an hour."""
    seconds = max(0, int((time.time() if end is None else end) - start))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
