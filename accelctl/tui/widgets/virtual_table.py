"""A table that renders only the rows on screen, so 10,000 rows cost what 40 do.

Rows are tuples of strings, identified by a key. The header stays on the first
line; the cursor row, marked rows and sort column are styled from component classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    right: bool = False  # right-align (numbers)


class VirtualTable(ScrollView, can_focus=True):
    """Rows rendered on demand; arrow keys, page keys, enter and the mouse move the cursor."""

    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--marked"}
    DEFAULT_CSS = """
    VirtualTable { background: $surface; }
    VirtualTable > .virtual-table--header { text-style: bold; color: $text-accent; }
    VirtualTable > .virtual-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    VirtualTable:blur > .virtual-table--cursor { background: $block-cursor-blurred-background; }
    VirtualTable > .virtual-table--marked { color: $text-success; text-style: bold; }
    """
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False), Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
        Binding("home,g", "jump(0)", show=False), Binding("end,G", "jump(-1)", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The cursor moved to the row with this key (None: no rows)."""

        def __init__(self, table: VirtualTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class Selected(Message):
        """Enter (or a double click) on the row with this key."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class MarkClicked(Message):
        """A click in the mark column (the first character) of a row."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class HeaderClicked(Message):
        def __init__(self, table: VirtualTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.rows: Sequence[tuple[str, ...]] = []
        self.keys: list[str] = []
        self.marked: set[str] = set()
        self.sort_column: str | None = None
        self.sort_descending = False
        self._width = sum(c.width + 2 for c in self.columns) + 2

    # --- data ---------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[tuple[str, ...]], keys: Sequence[str]) -> None:
        """Replace every row; the cursor stays on the same key when it is still there."""
        current = self.current_key
        self.rows = rows  # any sequence: it is indexed only for the rows on screen
        self.keys = list(keys)
        self.virtual_size = Size(self._width, len(self.rows) + 1)
        index = self.keys.index(current) if current in self.keys else 0
        self.cursor = min(index, max(0, len(self.rows) - 1))
        self.refresh()

    @property
    def current_key(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def watch_cursor(self, cursor: int) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if cursor < top:
            self.scroll_to(y=cursor, animate=False)
        elif cursor >= top + visible:
            self.scroll_to(y=cursor - visible + 1, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current_key))

    # --- actions ------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = len(self.rows) - 1 if where < 0 else 0

    def action_select(self) -> None:
        if self.current_key is not None:
            self.post_message(self.Selected(self, self.current_key))

    def on_click(self, event: Click) -> None:
        y = event.y
        if y == 0:
            x = event.x + int(self.scroll_offset.x) - 1  # past the mark column
            for column in self.columns:
                if x < column.width + 2:
                    self.post_message(self.HeaderClicked(self, column.key))
                    return
                x -= column.width + 2
            return
        row = int(self.scroll_offset.y) + y - 1
        if 0 <= row < len(self.rows):
            self.cursor = row
            if event.x + int(self.scroll_offset.x) == 0:
                self.post_message(self.MarkClicked(self, self.keys[row]))
            elif event.chain >= 2:
                self.action_select()

    # --- rendering ----------------------------------------------------------------------

    def _cells(self, values: Sequence[str], header: bool = False) -> str:
        parts = []
        for column, value in zip(self.columns, values):
            label = value
            if header and column.key == self.sort_column:
                label += " ▼" if self.sort_descending else " ▲"
            text = label[: column.width]
            parts.append(text.rjust(column.width) if column.right else text.ljust(column.width))
        return "  ".join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        if y == 0:
            style = self.get_component_rich_style("virtual-table--header")
            text = " " + self._cells([c.label for c in self.columns], header=True)
        else:
            row = scroll_y + y - 1
            if row >= len(self.rows):
                return Strip.blank(width, self.rich_style)
            key = self.keys[row]
            mark = "✓" if key in self.marked else " "
            text = mark + self._cells(self.rows[row])
            style = self.rich_style
            if key in self.marked:
                style += self.get_component_rich_style("virtual-table--marked")
            if row == self.cursor:
                style += self.get_component_rich_style("virtual-table--cursor")
        text = text.ljust(max(width + scroll_x, self._width))
        return Strip([Segment(text, style)]).crop(scroll_x, scroll_x + width)


