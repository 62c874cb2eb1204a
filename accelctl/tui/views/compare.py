"""Two to four chips side by side: best value per row highlighted, ratios to the first."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from accelctl.core.inventory import Inventory
from accelctl.core.query import compare
from accelctl.core.numbers import num


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
        table = Table(title="dense peak figures · ★ best in row (lowest power) · (Nx) ratio to the first",
                      title_justify="left", header_style="bold")
        table.add_column("")
        for acc in result.accelerators:
            table.add_column(acc.id, justify="right")
        for row in result.rows:
            cells = []
            for i, (value, best, ratio) in enumerate(zip(row.values, row.best, row.ratios)):
                text = num(value) + (f" ({ratio:.2f}x)" if ratio is not None and i else "")
                cells.append(Text(text + " ★", style="bold green") if best else Text(text))
            table.add_row(f"{row.label} ({row.unit})" if row.unit else row.label, *cells)
        self.query_one("#compare-body", Static).update(table)
