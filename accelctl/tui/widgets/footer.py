"""The footer in a narrow window: compact, so every key (Quit too) can be read and clicked."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

COMPACT_BELOW = 100  # columns


def fit_footer(screen: Screen) -> None:
    """Make the screen's footer compact below COMPACT_BELOW columns (call on mount and resize)."""
    for footer in screen.query(Footer):
        footer.compact = screen.app.size.width < COMPACT_BELOW
