"""Two to four chips side by side: best value per row highlighted, ratios to the first."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from accelctl.core.detail import COMPARE_LEGEND, compare_lines
from accelctl.core.inventory import Inventory
from accelctl.core.query import compare


class CompareView(VerticalScroll):
    """Shows the chips marked in the accelerators view (space marks, `c` compares)."""

    def __init__(self, inventory: Inventory, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.ids: list[str] = []

    def compose(self):
        yield Static("Mark 2 to 4 chips with space in Accelerators, then press c.", id="compare-body")

    def show(self, ids: list[str]) -> None:
        """Compare these accelerators (ids or aliases)."""
        self.ids = [self.inventory.accelerator(i).id for i in ids]
        result = compare([self.inventory.accelerator(i) for i in self.ids])
        table = Table(title=f"★ {COMPARE_LEGEND}", title_justify="left", header_style="bold")
        table.add_column("")
        for acc in result.accelerators:
            table.add_column(acc.id, justify="right")
        for line in compare_lines(result):
            table.add_row(line.label, *(Text(c.text + " ★", style="bold green") if c.best else Text(c.text)
                                        for c in line.cells))
        self.query_one("#compare-body", Static).update(table)
