"""Issue 8.1: a figure in the Accelerators table (and the Jobs table) is shown whole or not
at all, at any width.

A cut figure reads as a real, wrong number (MI355X's BF16 2500 showed as `250`). These
tests read what the table draws, row by row, and compare it with the catalog.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.views.accelerators import TEXT_COLUMNS, AcceleratorsView, _row
from accelctl.tui.widgets.virtual_table import VirtualTable

MUST_SHOW = {"id", "memory_gb", "mem_bw_tbps", "bf16"}


@pytest.fixture
def app(tmp_path: Path) -> AccelctlApp:
    return AccelctlApp(load_inventory(), JobStore(tmp_path / "jobs.sqlite"))


def drawn_figures_are_whole(app: AccelctlApp, table: VirtualTable) -> None:
    """Every figure on screen is the catalog's figure, whole, under its header."""
    by_id = {a.id: a for a in app.inventory.accelerators}
    figures = [(i, c) for i, c in enumerate(table.columns) if c in table.shown and c.key not in TEXT_COLUMNS]
    header = table.render_line(0).text
    for _, column in figures:
        assert column.label in header
    top = int(table.scroll_offset.y)
    for y in range(1, table.size.height):
        if top + y - 1 >= len(table.keys):
            break
        key = table.keys[top + y - 1]
        line = table.render_line(y).text
        expected = [_row(by_id[key])[i] for i, _ in figures]
        assert line.split()[len(line.split()) - len(expected):] == expected, (key, line)


@pytest.mark.parametrize("size", [(80, 24), (90, 30), (100, 30), (120, 30), (140, 36), (160, 40), (200, 50)])
async def test_figures_whole_at_every_width(app: AccelctlApp, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.query_one("#accel-table", VirtualTable)
        shown = {c.key for c in table.shown}
        assert shown >= MUST_SHOW
        assert table.region.right <= size[0] and table.width_of(table.shown) <= table.scrollable_content_region.width
        assert table.virtual_size.width <= table.scrollable_content_region.width  # nothing to scroll sideways
        drawn_figures_are_whole(app, table)
        hint = str(app.query_one("#accel-hint").render())
        for column in table.hidden:  # what the width leaves out is named
            assert column.label in hint
        for key in ("amd-mi355x", "google-tpu-v7-ironwood", "amd-mi325x"):  # the chips of the report
            assert key in table.keys


async def test_detail_narrows_then_gives_way(app: AccelctlApp) -> None:
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        view = app.query_one(AcceleratorsView)
        table = app.query_one("#accel-table", VirtualTable)
        detail = app.query_one("#accel-detail-scroll")
        assert detail.display and not table.hidden
        wide = detail.size.width
        await pilot.resize_terminal(140, 36)
        await pilot.pause()
        assert detail.display and not table.hidden and detail.size.width < wide  # narrower, figures intact
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert not detail.display and not table.hidden and view.narrow  # the detail gave way first
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert table.hidden and {c.key for c in table.shown} >= MUST_SHOW
        drawn_figures_are_whole(app, table)
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert detail.display and not table.hidden


async def test_narrow_window_shows_the_detail_on_enter(app: AccelctlApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one("#accel-table", VirtualTable)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not table.display and app.query_one("#accel-detail-scroll").display
        assert table.current_key in app.export_screenshot()  # the table is hidden: this is the detail
        await pilot.press("escape")
        await pilot.pause()
        assert table.display and app.focused is table


async def test_sorting_by_a_hidden_column_brings_it_into_sight(app: AccelctlApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one("#accel-table", VirtualTable)
        assert "tdp_w" in {c.key for c in table.hidden}
        while table.sort_column != "tdp_w":
            await pilot.press("s")
        await pilot.pause()
        assert "tdp_w" in {c.key for c in table.shown} and {c.key for c in table.shown} >= MUST_SHOW
        assert "TDP W ▼" in table.render_line(0).text
        drawn_figures_are_whole(app, table)


async def test_jobs_table_hides_whole_columns_at_80(app: AccelctlApp) -> None:
    store = app.store
    store.add(JobRecord("live0001", "a-rather-long-job-name", "local", "local", "b1", {"address": "http://127.0.0.1:9"},
                        {}, JobState.SUCCEEDED, time.time() - 75, time.time() - 5, 0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = app.query_one("#jobs-table", VirtualTable)
        assert {"id", "state", "duration", "exit"} <= {c.key for c in table.shown}
        assert table.width_of(table.shown) <= table.scrollable_content_region.width
        assert table.render_line(1).text.split()[-2:] == ["1m10s", "0"]
        assert "SUBMITTED" in str(app.query_one("#jobs-notes").render())
