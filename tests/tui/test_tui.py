"""The TUI, driven headless with Textual's Pilot: state and messages, not only pixels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobstate import JobState
from accelctl.core.query import AcceleratorQuery
from accelctl.core.store import JobRecord, JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.screens.dialogs import ConfirmScreen, HelpScreen, ProblemsScreen
from accelctl.tui.views.compare import CompareView
from accelctl.tui.widgets.log_view import LogView
from accelctl.tui.widgets.virtual_table import VirtualTable

SIZE = (150, 40)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite")


def app_for(store: JobStore, **kwargs) -> AccelctlApp:
    return AccelctlApp(load_inventory(), store, **kwargs)


async def test_accelerators_filter_sort_detail(store: JobStore) -> None:
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        assert len(table.rows) == len(app.inventory.accelerators)
        await pilot.press("slash")
        await pilot.press(*"hbm3e")
        expected = {a.id for a in AcceleratorQuery(text="hbm3e").run(app.inventory.accelerators)}
        assert set(table.keys) == expected and expected
        await pilot.press("enter", "s", "s", "s")  # vendor -> kind -> year -> memory_gb
        assert table.sort_column == "memory_gb" and table.sort_descending
        memories = [app.inventory.accelerator(k).memory_gb for k in table.keys]
        assert memories == sorted(memories, reverse=True)
        await pilot.pause(0.5)  # the detail panel draws once the cursor rests
        assert table.current_key in app.export_screenshot()


async def test_mark_and_compare(store: JobStore) -> None:
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        await pilot.press("c")  # nothing marked yet: a warning, no switch
        assert app.query_one("TabbedContent").active == "accelerators"
        first, second = table.keys[0], table.keys[1]
        await pilot.press("space", "space", "c")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "compare"
        assert app.query_one(CompareView).ids == [first, second]


async def test_compare_view_shows_best_and_ratios(store: JobStore) -> None:
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()  # hidden tabs mount just after the first frame
        view = app.query_one(CompareView)
        view.show(["H100", "MI300X", "v5p"])
        app.action_show_tab("compare")
        await pilot.pause()
        text = app.export_screenshot()
        assert "2.40x" in text and "★" in text and "google-tpu-v5p" in text


async def test_reading_filter_open_copy(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(store)
    opened, copied = [], []
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    monkeypatch.setattr("accelctl.tui.links.has_browser", lambda: True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "slash", *"acc:trn2", "enter")
        table = app.query_one("#reading-table", VirtualTable)
        linked = {r.url for r in app.inventory.reading if "aws-trainium2" in r.accelerators}
        assert set(table.keys) == linked
        await pilot.press("o", "y")
        await app.workers.wait_for_complete()
        assert opened == [table.current_key] and copied == [table.current_key]


async def test_pools_are_probed_in_the_background(store: JobStore) -> None:
    store.add(JobRecord("abcd1234", "x", "local", "local", "accelctl-abcd1234", {"address": "http://127.0.0.1:9"}, {},
                        JobState.RUNNING, time.time()))
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        view = app.query_one("#pools-view")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.reach["local"].startswith("✓") and view.reach["ray-gpu"].startswith("✗")
        rows = dict(zip(app.query_one("#pools-table", VirtualTable).keys, app.query_one("#pools-table").rows))
        assert rows["local"][4] == "1"  # one running job counted


async def test_jobs_view_cancel_asks_first(store: JobStore) -> None:
    target = {"address": "http://127.0.0.1:9"}
    store.add(JobRecord("done0001", "old", "local", "local", "b1", target, {}, JobState.SUCCEEDED, time.time() - 60))
    store.add(JobRecord("live0001", "new", "local", "local", "b2", target, {}, JobState.RUNNING, time.time()))
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        table = app.query_one("#jobs-table", VirtualTable)
        assert table.keys == ["live0001", "done0001"]
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert store.get("live0001").state in ("RUNNING", "UNKNOWN")


async def test_help_and_problems_screens(store: JobStore) -> None:
    app = app_for(store, problems=["mine.yaml:3:5: pools[0].hostz: unknown field"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ProblemsScreen)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.query_one("TabbedContent").active == "accelerators"


async def test_log_view_caps_memory_and_searches() -> None:
    from textual.app import App

    class Host(App):
        def compose(self):
            yield LogView(max_lines=1000)

    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        for start in range(0, 5000, 500):
            view.append([f"line {i}" for i in range(start, start + 500)])
        assert len(view.lines) <= 1000 and view.trimmed + len(view.lines) == 5000
        assert view.lines[-1] == "line 4999"
        assert view.find("line 4500") is not None and not view.following
        view.resume()
        await pilot.pause()
        assert view.following


async def test_mouse_alone_marks_compares_and_sorts(store: JobStore) -> None:
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        await pilot.click("#accel-table", offset=(0, 1))  # the mark column of the first row
        await pilot.click("#accel-table", offset=(0, 2))
        assert table.marked == {table.keys[0], table.keys[1]}
        await pilot.click("#accel-table", offset=(63, 0))  # the MEM GB header
        assert table.sort_column == "memory_gb"
        [compare_key] = [k for k in app.query("FooterKey") if k.key == "c"]
        await pilot.click(compare_key)
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "compare"
