"""Small text helpers shared by the views."""

from __future__ import annotations


def num(value: float | int | None, unit: str = "") -> str:
    """80.0 -> '80', 3.35 -> '3.35', None -> '-'."""
    if value is None:
        return "-"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}" if unit else text


def bar(value: float | None, reference: float | None, width: int = 20) -> str:
    """A bar of `value` against `reference` (full width = the reference)."""
    if value is None or not reference:
        return ""
    filled = min(width * 2, round(width * value / reference))
    return "█" * min(filled, width) + ("▶" if filled > width else "")
