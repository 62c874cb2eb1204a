"""The catalog: a filterable, sortable table of every chip and a detail panel.

Figures are never cut: the table shows the columns that fit whole (the rest are named
in the line below it), and the detail panel narrows, then gives way, before a figure
column does; in a narrow window enter shows the detail in the table's place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from accelctl.core.detail import detail_rows, source_lines
from accelctl.core.inventory import Inventory
from accelctl.core.models import Accelerator
from accelctl.core.numbers import num
from accelctl.core.query import FILTER_HELP, AcceleratorQuery
from accelctl.errors import AccelctlError
from accelctl.tui.format import bar
from accelctl.tui.views.filtered import FilteredTableView
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

# Widths here are the most a text column takes (longer text ends in "…"); figure columns
# get the width of their longest value (columns_for). The priority says what a narrow
# window keeps: the id always, then memory, bandwidth and BF16.
COLUMNS = [Column("id", "ID", 24, required=True), Column("vendor", "VENDOR", 13, priority=60),
           Column("kind", "KIND", 11, priority=40), Column("year", "YEAR", 4, True, priority=20),
           Column("memory_gb", "MEM GB", 6, True, priority=90), Column("mem_bw_tbps", "TB/s", 6, True, priority=80),
           Column("bf16", "BF16", 7, True, priority=70), Column("fp8", "FP8", 7, True, priority=50),
           Column("tdp_w", "TDP W", 6, True, priority=30)]
DETAIL_DELAY_S = 0.06
DETAIL_MIN_WIDTH = 34  # narrower than this, the detail panel gives way to the table's figures
BAR_FIGURES = [("memory_gb", "Memory"), ("mem_bw_tbps", "Bandwidth"), ("tflops.bf16", "BF16"), ("tflops.fp8", "FP8"),
               ("tdp_w", "Power")]


class AcceleratorsView(FilteredTableView):
    """Filter with `/`, sort with `s` (reverse with `r`), mark with space, set baseline with `b`."""

    BINDINGS = [
        Binding("s", "sort", "Sort"), Binding("r", "reverse", "Reverse", show=False),
        Binding("space", "mark", "Mark"), Binding("b", "baseline", "Baseline", show=False),
        Binding("c", "compare", "Compare marked"), Binding("enter", "details", "Details", show=False),
    ]
    FILTER_ID = "accel-filter"

    class CompareRequested(Message):
        def __init__(self, ids: list[str]) -> None:
            super().__init__()
            self.ids = ids

    def __init__(self, inventory: Inventory, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.by_id = {a.id: a for a in inventory.accelerators}
        self.rows = _RowCache(self.by_id)
        self.baseline = inventory.find("H100") or (inventory.accelerators[0] if inventory.accelerators else None)
        self.shown: list[Accelerator] = []
        self._detail_timer: Timer | None = None
        self.narrow = False  # the detail panel does not fit beside the whole table
        self.detail_only = False  # narrow, and the detail is shown in the table's place
        self.filter_problem = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder=f"/ filter: {FILTER_HELP}", id="accel-filter")
        with Horizontal(id="accel-body"):
            yield VirtualTable(columns_for(self.inventory.accelerators), id="accel-table", fit=True, sortable=True,
                               markable=True)
            with VerticalScroll(id="accel-detail-scroll"):
                yield Static(id="accel-detail")
        yield Static("", id="accel-hint", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.sort_column = "vendor"
        self.refilter()
        table.focus()

    # --- layout -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.lay_out()

    def lay_out(self) -> None:
        """The whole table, and the detail beside it while it gets DETAIL_MIN_WIDTH or more;
        narrower, the table alone (its least important columns hidden) or the detail alone."""
        table = self.query_one(VirtualTable)
        detail = self.query_one("#accel-detail-scroll")
        spare = self.size.width - table.full_width
        self.narrow = spare < DETAIL_MIN_WIDTH
        if not self.narrow:
            self.detail_only = False
        table.styles.width = table.full_width if not self.narrow else "1fr"
        table.display = not self.detail_only
        detail.display = not self.narrow or self.detail_only
        detail.set_class(self.detail_only, "alone")
        self.update_hint()

    def update_hint(self) -> None:
        """Say what the width leaves out (hidden columns, the detail) and how to see it."""
        table = self.query_one(VirtualTable)
        parts = []
        if self.filter_problem:
            parts.append(self.filter_problem)
        elif self.detail_only:
            parts.append("enter or esc: back to the table")
        else:
            if table.hidden:
                parts.append(f"hidden at this width: {', '.join(c.label for c in table.hidden)}")
            if self.narrow:
                parts.append("enter: details")
        hint = self.query_one("#accel-hint", Static)
        hint.update(" · ".join(parts))
        hint.display = bool(parts)

    def on_virtual_table_columns_changed(self, event: VirtualTable.ColumnsChanged) -> None:
        self.update_hint()

    def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.id == "accel-hint" and self.narrow:
            self.action_details()

    def action_details(self) -> None:
        """In a narrow window: the detail in the table's place, and back."""
        if not self.narrow:
            return
        self.detail_only = not self.detail_only
        self.lay_out()
        if self.detail_only:
            self.show_detail(self.query_one(VirtualTable).current_key)
            self.query_one("#accel-detail-scroll").focus()
        else:
            self.query_one(VirtualTable).focus()

    def action_clear_filter(self) -> None:
        if self.detail_only:
            self.action_details()
        else:
            super().action_clear_filter()

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        self.action_details()

    # --- data ---------------------------------------------------------------------------

    def refilter(self, to_top: bool = False) -> None:
        """Apply the filter text and sort (the same query as `accelctl ls`); `to_top` puts
        the cursor on the first row (after a new sort), else it stays on its chip."""
        table = self.query_one(VirtualTable)
        text = self.filter_box().value
        sort = ("-" if table.sort_descending else "") + (table.sort_column or "vendor")
        try:
            self.shown = AcceleratorQuery(text=text, sort=sort).run(self.inventory.accelerators)
            problem = ""
        except AccelctlError as e:  # a half-typed `mem>` or an unknown field: say so, show none
            self.shown, problem = [], e.message
        if problem != self.filter_problem:
            self.filter_problem = problem
            self.update_hint()
        keys = [a.id for a in self.shown]
        table.set_rows(_LazyRows(keys, self.rows), keys)  # its Highlighted message updates the detail
        if to_top:
            table.cursor = 0

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        # Typing or holding an arrow key moves the cursor many times a second: draw the
        # (rich, costly) detail once the cursor rests.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, lambda: self.show_detail(event.key))

    def on_virtual_table_header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        if event.column == event.table.sort_column:
            self.action_reverse()
        else:
            self.sort_by(event.column)

    # --- actions ------------------------------------------------------------------------

    def sort_by(self, column: str) -> None:
        """Sort by a column, figures biggest first and text A to Z, whether by `s` or a click."""
        table = self.query_one(VirtualTable)
        table.sort_descending = column not in TEXT_COLUMNS
        table.sort_column = column
        self.refilter(to_top=True)
        label = next(c.label for c in COLUMNS if c.key == column)
        self.notify(f"sorted by {label} {'▼ biggest first' if table.sort_descending else '▲'}", timeout=1.5)

    def action_sort(self) -> None:
        table = self.query_one(VirtualTable)
        keys = [c.key for c in COLUMNS]
        self.sort_by(keys[(keys.index(table.sort_column) + 1) % len(keys)] if table.sort_column in keys
                     else keys[0])

    def action_reverse(self) -> None:
        table = self.query_one(VirtualTable)
        table.sort_descending = not table.sort_descending
        self.refilter(to_top=True)

    def on_virtual_table_mark_clicked(self, event: VirtualTable.MarkClicked) -> None:
        self.toggle_mark(event.key, advance=False)

    def action_mark(self) -> None:
        key = self.query_one(VirtualTable).current_key
        if key is not None:
            self.toggle_mark(key, advance=True)

    def toggle_mark(self, key: str, advance: bool) -> None:
        """Mark or unmark a chip for comparison (at most 4)."""
        table = self.query_one(VirtualTable)
        if key in table.marked:
            table.marked.discard(key)
        elif len(table.marked) >= 4:
            self.notify("compare takes at most 4 chips; unmark one first", severity="warning")
            return
        else:
            table.marked.add(key)
        if advance:
            table.action_move(1)
        table.refresh()

    def action_baseline(self) -> None:
        key = self.query_one(VirtualTable).current_key
        if key:
            self.baseline = self.by_id[key]
            self.show_detail(key)
            self.notify(f"bars now compare with {key}", timeout=1.5)

    def action_compare(self) -> None:
        table = self.query_one(VirtualTable)
        marked = [a.id for a in self.shown if a.id in table.marked] or \
            [k for k in self.by_id if k in table.marked]
        if len(marked) < 2:
            self.notify("mark 2 to 4 chips with space first", severity="warning")
            return
        self.post_message(self.CompareRequested(marked))

    # --- detail -------------------------------------------------------------------------

    def show_detail(self, key: str | None) -> None:
        detail = self.query_one("#accel-detail", Static)
        if key is None:
            detail.update("no accelerator matches the filter")
            return
        detail.update(render_detail(self.by_id[key], self.baseline, self.inventory))


class _RowCache(dict):
    """Table cells by accelerator id, formatted on first use (10,000 chips, ~40 on screen)."""

    def __init__(self, by_id: dict[str, Accelerator]) -> None:
        super().__init__()
        self.by_id = by_id

    def __missing__(self, key: str) -> tuple[str, ...]:
        row = self[key] = _row(self.by_id[key])
        return row


class _LazyRows(Sequence):
    """The rows of the shown keys, as a sequence the table indexes only where it draws."""

    def __init__(self, keys: list[str], cache: _RowCache) -> None:
        self.keys = keys
        self.cache = cache

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):
        return self.cache[self.keys[index]]


TEXT_COLUMNS = {"id", "vendor", "kind"}


def columns_for(accelerators: Sequence[Accelerator]) -> list[Column]:
    """COLUMNS with each figure column as wide as its longest value, so no figure is ever cut."""
    fitted = []
    for column in COLUMNS:
        if column.key not in TEXT_COLUMNS:
            values = {a.number(column.key if column.key not in ("bf16", "fp8") else f"tflops.{column.key}")
                      for a in accelerators}  # distinct values: cheap at 10,000 chips
            widest = max((len(num(v)) for v in values), default=1)
            column = replace(column, width=max(widest, len(column.label)))
        fitted.append(column)
    return fitted


def _row(a: Accelerator) -> tuple[str, ...]:
    return (a.id, a.vendor, a.kind, num(a.year), num(a.memory_gb), num(a.mem_bw_tbps), num(a.tflops.bf16),
            num(a.tflops.fp8), num(a.tdp_w))


def render_detail(acc: Accelerator, baseline: Accelerator | None, inventory: Inventory) -> Group:
    """Specs with units and the sources behind each, bars against the baseline, linked reading."""
    specs = Table.grid(padding=(0, 2))
    specs.add_column(style="bold")
    specs.add_column()
    specs.add_column(style="dim")
    for row in detail_rows(acc):
        specs.add_row(row.label, row.value, row.cite)
    parts: list = [Text(acc.name, style="bold underline"), Text(acc.id, style="dim"), specs]
    if baseline is not None:
        bars = Table.grid(padding=(0, 1))
        for figure, label in BAR_FIGURES:
            value, ref_value = acc.number(figure), baseline.number(figure)
            if value is None:
                continue
            ratio = f"{value / ref_value:.2f}x" if ref_value else ""
            bars.add_row(label, Text(bar(value, ref_value), style="green"), ratio)
        parts += [Text(f"\nvs {baseline.id}", style="bold"), bars]
    if acc.notes:
        parts += [Text("\nNotes", style="bold"), Text(acc.notes)]
    parts += [Text("\nSources", style="bold")] + [Text(line.text, style=f"link {line.url}")
                                                   for line in source_lines(acc)]
    reading = inventory.reading_for(acc.id)
    parts.append(Text(f"\nReading ({len(reading)})", style="bold"))
    parts += [Text(f"{r.published or '':10} {r.title or r.url}", style=f"link {r.url}") for r in reading]
    return Group(*parts)
