"""The Fit tab: the same plans as `accelctl fit`, following the options as they change."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Input, Select, Static

from accelctl.core import fit as planner
from accelctl.core.inventory import load_inventory
from accelctl.core.store import JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.widgets.virtual_table import VirtualTable


async def settled(pilot, app: AccelctlApp) -> None:
    await pilot.pause(0.5)  # the options settle (SETTLE_S), then the plan runs in a worker
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_fit_tab_plans_as_the_cli_does_and_follows_the_options(tmp_path: Path) -> None:
    inventory = load_inventory()
    app = AccelctlApp(inventory, JobStore(tmp_path / "jobs.sqlite"))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("6")
        await settled(pilot, app)
        view = app.query_one("#fit-view")
        view.query_one("#fit-model", Select).value = "llama-3.1-70b"
        view.query_one("#fit-context", Input).value = "32768"
        view.query_one("#fit-batch", Input).value = "8"
        await settled(pilot, app)
        request = planner.FitRequest(model=inventory.model("llama-3.1-70b"), context=32768, batch=8)
        h100 = next(r for r in planner.fit_rows(request, [inventory.accelerator("nvidia-h100-sxm")], [],
                                                inventory.prices))
        table = app.query_one("#fit-table", VirtualTable)
        rows = dict(zip(table.keys, table.rows))
        assert rows["/nvidia-h100-sxm"][:3] == ("nvidia-h100-sxm", "yes", str(h100.chips))
        assert rows["/nvidia-h100-sxm"][6] == f"{h100.decode_tokens_s:,.0f}"
        table.cursor = table.keys.index("/nvidia-h100-sxm")
        await pilot.pause()
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(view.query_one("#fit-breakdown", Static).content)
        breakdown = console.export_text()
        assert f"{h100.chips} x nvidia-h100-sxm" in breakdown and "weights" in breakdown and "KV cache" in breakdown
        view.query_one("#fit-mode", Select).value = "training"
        await settled(pilot, app)
        assert [c.label for c in table.columns][4] == "TRAIN tok/s"
        view.query_one("#fit-context", Input).value = "0"
        await settled(pilot, app)
        assert "context must be at least 1" in str(view.query_one("#fit-note", Static).content)


async def test_at_80_columns_the_bars_give_way_and_hidden_columns_are_named(tmp_path: Path) -> None:
    app = AccelctlApp(load_inventory(), JobStore(tmp_path / "jobs.sqlite"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await settled(pilot, app)
        view = app.query_one("#fit-view")
        assert view.has_class("narrow") and not view.query_one("#fit-detail").display
        table = app.query_one("#fit-table", VirtualTable)
        shown = [c.label for c in table.shown]
        assert shown[:3] == ["ACCELERATOR", "FITS", "CHIPS"]
        hidden = [c.label for c in table.columns if c not in table.shown]
        note = str(view.query_one("#fit-note", Static).content)
        assert hidden and f"hidden at this width: {', '.join(hidden)}" in note
