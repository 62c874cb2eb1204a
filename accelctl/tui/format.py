"""Small text helpers shared by the views."""

from __future__ import annotations


def bar(value: float | None, reference: float | None, width: int = 20) -> str:
    """A bar of `value` against `reference` (full width = the reference; ▶ past double)."""
    if value is None or not reference:
        return ""
    filled = min(width * 2, round(width * value / reference))
    return "█" * min(filled, width) + ("▶" if filled > width else "")
