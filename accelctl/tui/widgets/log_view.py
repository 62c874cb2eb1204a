"""A log widget for big, fast streams: lines in a capped list, only visible lines drawn.

It follows the end while `following` is on; scrolling up or `pause()` stops that.
Past `max_lines` the oldest lines are dropped in blocks and counted in `trimmed`.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

DEFAULT_MAX_LINES = 200_000


class LogView(ScrollView, can_focus=True):
    """Job output, appended in batches; search highlights the current match."""

    COMPONENT_CLASSES = {"log-view--match"}
    DEFAULT_CSS = """
    LogView { background: $surface; }
    LogView > .log-view--match { background: $warning 60%; }
    """
    following: reactive[bool] = reactive(True)

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.trimmed = 0  # lines dropped from the top to stay under max_lines
        self.match_line: int | None = None
        self._widest = 0

    def append(self, lines: list[str]) -> None:
        """Add lines at the end (each without its newline)."""
        if not lines:
            return
        self.lines.extend(lines)
        self._widest = max(self._widest, max(map(len, lines[-2000:])))
        excess = len(self.lines) - self.max_lines
        if excess > 0:
            # Drop a block at a time: the copy is paid once per max_lines/10 lines, not per line.
            cut = min(len(self.lines), excess + self.max_lines // 10)
            del self.lines[:cut]
            self.trimmed += cut
            if self.match_line is not None:
                self.match_line = self.match_line - cut if self.match_line >= cut else None
        self.virtual_size = Size(min(self._widest, 10_000), len(self.lines))
        if self.following:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def pause(self) -> None:
        self.following = False

    def resume(self) -> None:
        self.following = True
        self.scroll_end(animate=False, x_axis=False)

    def find(self, text: str) -> int | None:
        """Jump to the next line containing `text` after the last match (wrapping); its index, or None."""
        if not text or not self.lines:
            return None
        start = 0 if self.match_line is None else self.match_line + 1
        n = len(self.lines)
        for step in range(n):
            index = (start + step) % n
            if text in self.lines[index]:
                self.match_line = index
                self.following = False
                self.scroll_to(y=max(0, index - self.scrollable_content_region.height // 2), animate=False)
                self.refresh()
                return index
        return None

    def text(self) -> str:
        """Everything kept, as the job wrote it."""
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def on_mouse_scroll_up(self, event: object) -> None:
        self.following = False

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        index = scroll_y + y
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        line = self.lines[index].replace("\t", "    ")
        segment_text = line[scroll_x:scroll_x + width]
        style = self.rich_style
        if index == self.match_line:
            style += self.get_component_rich_style("log-view--match")
        return Strip([Segment(segment_text.ljust(width), style)])

    def action_scroll_up(self) -> None:
        self.following = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.following = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.following = False
        super().action_scroll_home()
