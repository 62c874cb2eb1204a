"""How figures read in tables, the same in the CLI and the TUI."""

from __future__ import annotations


def num(value: float | int | None, unit: str = "") -> str:
    """80.0 -> '80', 3.35 -> '3.35', None -> '-' (unknown), with an optional unit."""
    if value is None:
        return "-"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}" if unit else text
