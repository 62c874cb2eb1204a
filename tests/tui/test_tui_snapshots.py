"""Pixel snapshots of each view (pytest-textual-snapshot); update with --snapshot-update."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.store import JobStore
from accelctl.tui.app import AccelctlApp

SIZE = (140, 36)


@pytest.fixture
def app(tmp_path: Path) -> AccelctlApp:
    return AccelctlApp(load_inventory(), JobStore(tmp_path / "jobs.sqlite"))


def test_accelerators_view(snap_compare, app: AccelctlApp) -> None:
    async def move(pilot) -> None:
        await pilot.press("down", "down")
        await pilot.pause(0.3)  # the detail panel draws once the cursor rests

    assert snap_compare(app, terminal_size=SIZE, run_before=move)


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_accelerators_view_fits_the_width(snap_compare, app: AccelctlApp, size: tuple[int, int]) -> None:
    """Issue 8.1: every figure whole; the hidden columns named; the detail beside the table
    only where it fits (200), else the table alone (120, 80)."""

    async def move(pilot) -> None:
        await pilot.press("down", "down")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=move)


def test_accelerators_detail_alone_at_80(snap_compare, app: AccelctlApp) -> None:
    async def details(pilot) -> None:
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=details)


def test_compare_view(snap_compare, app: AccelctlApp) -> None:
    async def compare(pilot) -> None:
        await pilot.pause()  # hidden tabs mount just after the first frame
        pilot.app.query_one("#compare-view").show(["H100", "MI300X", "v5p"])
        pilot.app.action_show_tab("compare")

    assert snap_compare(app, terminal_size=SIZE, run_before=compare)


def test_reading_view(snap_compare, app: AccelctlApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, press=["3", "down"])


def test_jobs_view_empty(snap_compare, app: AccelctlApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, press=["5"])


def test_help_screen(snap_compare, app: AccelctlApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])
