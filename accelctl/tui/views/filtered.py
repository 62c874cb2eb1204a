"""What the filterable views share: a filter bar above a virtual table."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

from accelctl.tui.widgets.virtual_table import VirtualTable


class FilteredTableView(Vertical):
    """`/` focuses the filter; it stays in sight while it holds text; enter returns to the
    table and esc clears it. Subclasses name their Input `#<FILTER_ID>` and implement refilter()."""

    FILTER_ID = ""
    BINDINGS = [Binding("slash", "filter", "Filter"), Binding("escape", "clear_filter", "Clear", show=False)]

    def refilter(self) -> None:
        raise NotImplementedError

    def filter_box(self) -> Input:
        return self.query_one(f"#{self.FILTER_ID}", Input)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.FILTER_ID:
            event.input.set_class(bool(event.value), "visible")
            self.refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(VirtualTable).focus()

    def action_filter(self) -> None:
        self.filter_box().focus()

    def action_clear_filter(self) -> None:
        self.filter_box().value = ""
        self.query_one(VirtualTable).focus()
