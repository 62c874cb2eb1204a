"""A table that renders only the rows on screen, so 10,000 rows cost what 40 do.

Rows are tuples of strings, identified by a key. The header stays on the first
line; the cursor row, marked rows and sort column are styled from component classes.

With `fit=True` a column is shown whole or not at all: when the table is too narrow
for every column, the columns of lowest `priority` are hidden (never a figure cut to
its first digits, which would read as a real, wrong number), and `ColumnsChanged`
says which.
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
    """One column: `width` fits its longest value; with `fit`, the lowest `priority` goes first."""

    key: str
    label: str
    width: int
    right: bool = False  # right-align (numbers)
    priority: int = 0  # with fit=True: hidden before columns of higher priority
    required: bool = False  # with fit=True: never hidden


SORT_ARROW_WIDTH = 2  # " ▲" after the label of the sorted column
MARK_WIDTH = 1  # the mark column at x=0
GAP = 2  # between columns


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
        """A click on a row of a `markable` table (or, in any table, in its mark column at x=0)."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class HeaderClicked(Message):
        def __init__(self, table: VirtualTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

    class ColumnsChanged(Message):
        """The columns shown changed (a resize, a new sort column); `hidden` are left out."""

        def __init__(self, table: VirtualTable, hidden: list[Column]) -> None:
            super().__init__()
            self.table = table
            self.hidden = hidden

    def __init__(self, columns: Sequence[Column], *, id: str | None = None, fit: bool = False,
                 sortable: bool = False, markable: bool = False) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.fit = fit
        self.sortable = sortable  # room for the sort arrow in every header
        self.markable = markable  # a click on a row posts MarkClicked
        self.shown: list[Column] = list(self.columns)
        self._indices = list(range(len(self.columns)))
        self.rows: Sequence[tuple[str, ...]] = []
        self.keys: list[str] = []
        self.marked: set[str] = set()
        self._sort_column: str | None = None
        self.sort_descending = False
        self._width = self.width_of(self.columns)

    # --- columns ------------------------------------------------------------------------

    def column_width(self, column: Column) -> int:
        """Characters the column takes: its values, and its label with room for the sort arrow."""
        return max(column.width, len(column.label) + (SORT_ARROW_WIDTH if self.sortable else 0))

    def width_of(self, columns: Sequence[Column]) -> int:
        """Characters a row of these columns takes, mark column included."""
        return MARK_WIDTH + sum(self.column_width(c) for c in columns) + GAP * max(0, len(columns) - 1)

    @property
    def full_width(self) -> int:
        """The width that shows every column (plus the vertical scrollbar)."""
        return self.width_of(self.columns) + self.styles.scrollbar_size_vertical

    @property
    def hidden(self) -> list[Column]:
        return [c for c in self.columns if c not in self.shown]

    @property
    def sort_column(self) -> str | None:
        return self._sort_column

    @sort_column.setter
    def sort_column(self, key: str | None) -> None:
        self._sort_column = key
        self.fit_columns()  # the sorted column is kept in sight

    def fit_columns(self) -> None:
        """Choose the columns that fit whole in the width (all of them unless `fit`)."""
        if not self.fit or not self.is_mounted:
            return
        scrollbar = self.styles.scrollbar_size_vertical if len(self.rows) + 1 > self.size.height else 0
        available = self.size.width - scrollbar
        shown = list(self.columns)
        # Drop the least important first; among equals the rightmost.
        order = sorted((c for c in self.columns if not c.required and c.key != self._sort_column),
                       key=lambda c: (c.priority, -self.columns.index(c)))
        for column in order:
            if self.width_of(shown) <= available:
                break
            shown.remove(column)
        if shown != self.shown:
            self.shown = shown
            self._indices = [self.columns.index(c) for c in shown]
            self._width = self.width_of(shown)
            self.virtual_size = Size(self._width, len(self.rows) + 1)
            self.refresh()
            self.post_message(self.ColumnsChanged(self, self.hidden))

    def on_resize(self) -> None:
        self.fit_columns()

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Show other columns (the rows that follow must have their cells)."""
        if list(columns) == self.columns:
            return
        self.columns = list(columns)
        self.shown, self._indices = list(self.columns), list(range(len(self.columns)))
        self._width = self.width_of(self.columns)
        self.virtual_size = Size(self._width, len(self.rows) + 1)
        self.fit_columns()
        self.refresh()

    # --- data ---------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[tuple[str, ...]], keys: Sequence[str]) -> None:
        """Replace every row; the cursor stays on the same key when it is still there."""
        current = self.current_key
        self.rows = rows  # any sequence: it is indexed only for the rows on screen
        self.keys = list(keys)
        self.virtual_size = Size(self._width, len(self.rows) + 1)
        self.fit_columns()  # fewer rows may drop the scrollbar, more may bring it
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
            x = event.x + int(self.scroll_offset.x) - MARK_WIDTH
            for column in self.shown:
                if x < self.column_width(column) + GAP:
                    self.post_message(self.HeaderClicked(self, column.key))
                    return
                x -= self.column_width(column) + GAP
            return
        row = int(self.scroll_offset.y) + y - 1
        if 0 <= row < len(self.rows):
            self.cursor = row
            in_mark_column = event.x + int(self.scroll_offset.x) < MARK_WIDTH
            if self.markable or in_mark_column:
                # The second click of a double click would undo the first: one toggle per gesture.
                if event.chain == 1:
                    self.post_message(self.MarkClicked(self, self.keys[row]))
            elif event.chain >= 2:
                self.action_select()

    # --- rendering ----------------------------------------------------------------------

    def _cells(self, values: Sequence[str], header: bool = False) -> str:
        parts = []
        for column, index in zip(self.shown, self._indices):
            width = self.column_width(column)
            text = values[index] if index < len(values) else ""
            if header and column.key == self._sort_column:
                text += " ▼" if self.sort_descending else " ▲"
            if len(text) > width:  # only text gets here (figure columns are as wide as their values)
                text = text[: width - 1] + "…"
            parts.append(text.rjust(width) if column.right else text.ljust(width))
        return (" " * GAP).join(parts)

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


