"""The catalog: a filterable, sortable table of every chip and a detail panel."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
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
from accelctl.core.query import AcceleratorQuery
from accelctl.tui.format import bar
from accelctl.tui.views.filtered import FilteredTableView
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

COLUMNS = [Column("id", "ID", 24), Column("vendor", "VENDOR", 12), Column("kind", "KIND", 11),
           Column("year", "YEAR", 4, True), Column("memory_gb", "MEM GB", 6, True),
           Column("mem_bw_tbps", "TB/s", 6, True), Column("bf16", "BF16", 7, True), Column("fp8", "FP8", 7, True),
           Column("tdp_w", "TDP W", 6, True)]
DETAIL_DELAY_S = 0.06
BAR_FIGURES = [("memory_gb", "Memory"), ("mem_bw_tbps", "Bandwidth"), ("tflops.bf16", "BF16"), ("tflops.fp8", "FP8"),
               ("tdp_w", "Power")]


class AcceleratorsView(FilteredTableView):
    """Filter with `/`, sort with `s` (reverse with `r`), mark with space, set baseline with `b`."""

    BINDINGS = [
        Binding("s", "sort", "Sort"), Binding("r", "reverse", "Reverse", show=False),
        Binding("space", "mark", "Mark"), Binding("b", "baseline", "Baseline", show=False),
        Binding("c", "compare", "Compare marked"),
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

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter: words in id, name, vendor, kind, memory type, aliases",
                    id="accel-filter")
        with Horizontal():
            yield VirtualTable(COLUMNS, id="accel-table")
            with VerticalScroll(id="accel-detail-scroll"):
                yield Static(id="accel-detail")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.sort_column = "vendor"
        self.refilter()
        table.focus()

    # --- data ---------------------------------------------------------------------------

    def refilter(self) -> None:
        """Apply the filter text and sort (the same query as `accelctl ls`)."""
        table = self.query_one(VirtualTable)
        text = self.filter_box().value
        sort = ("-" if table.sort_descending else "") + (table.sort_column or "vendor")
        self.shown = AcceleratorQuery(text=text, sort=sort).run(self.inventory.accelerators)
        keys = [a.id for a in self.shown]
        table.set_rows(_LazyRows(keys, self.rows), keys)  # its Highlighted message updates the detail

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        # Typing or holding an arrow key moves the cursor many times a second: draw the
        # (rich, costly) detail once the cursor rests.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, lambda: self.show_detail(event.key))

    def on_virtual_table_header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        table = event.table
        table.sort_descending = not table.sort_descending if table.sort_column == event.column else False
        table.sort_column = event.column
        self.refilter()

    # --- actions ------------------------------------------------------------------------

    def action_sort(self) -> None:
        table = self.query_one(VirtualTable)
        keys = [c.key for c in COLUMNS]
        table.sort_column = keys[(keys.index(table.sort_column) + 1) % len(keys)] if table.sort_column in keys \
            else keys[0]
        table.sort_descending = table.sort_column not in ("id", "vendor", "kind")
        self.refilter()
        self.notify(f"sorted by {table.sort_column}{' (descending)' if table.sort_descending else ''}",
                    timeout=1.5)

    def action_reverse(self) -> None:
        table = self.query_one(VirtualTable)
        table.sort_descending = not table.sort_descending
        self.refilter()

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
