"""Issue 8.3, 8.8 and the TUI part of 8.4: live job states in the log view, the mouse and
keys as people expect them, and what quitting says about the local pool."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.screens import logs
from accelctl.tui.screens.logs import LogScreen
from accelctl.tui.screens.submit import SubmitScreen
from accelctl.tui.widgets.log_view import LogView
from accelctl.tui.widgets.virtual_table import VirtualTable
from tests.backends.fake import FakeBackend, Script, fake_backend
from tests.conftest import REPO

SIZE = (150, 40)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite")


@pytest.fixture
def app(store: JobStore) -> AccelctlApp:
    return AccelctlApp(load_inventory(), store)


def fake_job(store: JobStore, backend: FakeBackend, script: Script, job_id: str = "fake0001") -> JobRecord:
    """A job started on the fake backend and recorded as submit_job would (PENDING)."""
    backend_id = f"fake-{job_id}"
    backend.cluster.start(backend_id, script)
    record = JobRecord(job_id, "demo", "fake", "fake", backend_id, backend.target, {}, JobState.PENDING, time.time())
    store.add(record)
    return record


# --- 8.3 live states ----------------------------------------------------------------------


async def test_log_screen_tracks_pending_running_and_the_end(app: AccelctlApp, store: JobStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "STATE_EVERY_S", 0.1)
    async with app.run_test(size=SIZE) as pilot:
        backend = fake_backend()
        script = Script("".join(f"step {i}\n" for i in range(6)), chunk=7, delay=0.45, start_after=1.2)
        record = fake_job(store, backend, script)
        app.open_logs(record, backend)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogScreen)
        status = screen.query_one("#log-status")
        seen, texts = [], []
        deadline = time.monotonic() + 15
        while not screen.state.terminal and time.monotonic() < deadline:
            if not seen or seen[-1] != screen.state:
                seen.append(screen.state)
            texts.append(str(status.render()))
            await asyncio.sleep(0.1)
        seen.append(screen.state)
        assert seen == [JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED]
        durations = {t.split(" · ")[4] for t in texts}  # id · name · pool · state · duration · ...
        assert {"0m00s", "0m01s", "0m02s"} <= durations  # it ticks while the job runs
        assert store.get(record.id).state == JobState.SUCCEEDED
        await pilot.pause(1.2)
        ended = str(status.render())
        assert "SUCCEEDED" in ended and ended.split(" · ")[4] == texts[-1].split(" · ")[4]  # stopped at the end


async def test_log_screen_says_when_the_pool_does_not_answer(app: AccelctlApp, store: JobStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "STATE_EVERY_S", 0.1)
    async with app.run_test(size=SIZE) as pilot:
        backend = fake_backend()
        record = JobRecord("gone0001", "demo", "fake", "fake", "fake-missing", backend.target, {}, JobState.RUNNING,
                           time.time())
        store.add(record)
        app.open_logs(record, backend)
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, LogScreen)
        assert screen.state == JobState.RUNNING and "has no job" in str(screen.query_one("#log-status").render())


# --- 8.8 mouse and keys -------------------------------------------------------------------


async def test_clicking_a_row_toggles_its_mark(app: AccelctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        await pilot.click("#accel-table", offset=(10, 1))  # on the id, not the mark column
        assert table.marked == {table.keys[0]}
        await pilot.click("#accel-table", offset=(50, 3))
        assert table.marked == {table.keys[0], table.keys[2]} and table.current_key == table.keys[2]
        await pilot.click("#accel-table", offset=(10, 1))
        assert table.marked == {table.keys[2]}
        await pilot.double_click("#accel-table", offset=(20, 4))  # one gesture, one toggle
        assert table.marked == {table.keys[2], table.keys[3]}


async def test_header_click_and_s_sort_the_same_way_and_go_to_the_top(app: AccelctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        await pilot.press("down", "down", "down", "down")
        while table.sort_column != "memory_gb":
            await pilot.press("s")
        by_key = (table.sort_column, table.sort_descending, list(table.keys))
        assert table.cursor == 0 and table.sort_descending
        assert "MEM GB ▼" in table.render_line(0).text
        await pilot.press("s", "down", "down")  # away from memory, cursor off the top
        header = table.render_line(0).text
        x = header.index("MEM GB")
        await pilot.click("#accel-table", offset=(x, 0))
        assert (table.sort_column, table.sort_descending, list(table.keys)) == by_key and table.cursor == 0
        await pilot.press("down")
        await pilot.click("#accel-table", offset=(x, 0))  # again: reversed
        assert not table.sort_descending and table.cursor == 0 and "MEM GB ▲" in table.render_line(0).text


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_every_sorted_header_shows_its_arrow(app: AccelctlApp, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        table = app.query_one("#accel-table", VirtualTable)
        for _ in table.columns:
            await pilot.press("s")
            label = next(c.label for c in table.columns if c.key == table.sort_column)
            arrow = "▼" if table.sort_descending else "▲"
            assert f"{label} {arrow}" in table.render_line(0).text


async def test_enter_in_log_search_returns_to_the_log(app: AccelctlApp, store: JobStore,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        backend = fake_backend()
        record = fake_job(store, backend, Script("".join(f"line {i} {'odd' if i % 2 else 'even'}\n"
                                                         for i in range(40))))
        app.open_logs(record, backend)
        await pilot.pause(0.3)
        view = app.screen.query_one(LogView)
        await pilot.press("slash", *"odd", "enter")
        assert app.focused is view and view.match_line == 1
        await pilot.press("n")
        assert view.match_line == 3
        await pilot.press("w")
        assert (tmp_path / f"accelctl-{record.id}.log").read_text().startswith("line 0 even\n")


async def test_enter_in_the_spec_path_plans(app: AccelctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, SubmitScreen)
        await pilot.click("#spec-path")
        await pilot.press(*str(REPO / "jobs" / "hello.yaml"), "enter")
        await pilot.pause()
        plan = str(app.screen.query_one("#plan").render())
        assert "pool" in plan and "local" in plan


async def test_submit_dialog_says_where_it_looks_for_specs(app: AccelctlApp, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        prompt = app.screen.query_one("#spec-select").prompt
        assert str(tmp_path / "jobs") in str(prompt) and "no job specs" in str(prompt)


async def test_esc_from_a_log_goes_back_to_the_view(app: AccelctlApp, store: JobStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        backend = fake_backend()
        first = fake_job(store, backend, Script("one\n"), "first001")
        second = fake_job(store, backend, Script("two\n"), "second01")
        app.open_logs(first, backend)
        await pilot.pause()
        app.open_logs(second, backend)  # as after submitting from within a log
        await pilot.pause()
        assert isinstance(app.screen, LogScreen) and app.screen.record.id == "second01"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogScreen)
        assert app.query_one("TabbedContent").active == "jobs"


async def test_open_without_a_browser_copies_and_says_so(app: AccelctlApp, monkeypatch: pytest.MonkeyPatch) -> None:
    opened, copied = [], []
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "o")
        await app.workers.wait_for_complete()
        await pilot.pause()
        url = app.query_one("#reading-table", VirtualTable).current_key
        assert opened == [] and copied == [url]
        assert any("copied" in n.message and "no browser" in n.message for n in app._notifications)


# --- 8.4: quitting while the local pool runs ------------------------------------------------


@pytest.mark.parametrize("running", [True, False])
async def test_quit_says_the_local_pool_keeps_running(app: AccelctlApp, monkeypatch: pytest.MonkeyPatch,
                                                      running: bool) -> None:
    head = {"address": "http://127.0.0.1:8265", "pid": 1}
    monkeypatch.setattr("accelctl.tui.app.local_pool_status", lambda: head if running else None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()  # the hidden tabs mount just after the first frame
        await pilot.press("q")
        await app.workers.wait_for_complete()
        await pilot.pause()
    if running:
        assert "keeps running" in app.exit_note and "accelctl local stop" in app.exit_note
        assert "127.0.0.1:8265" in app.exit_note
    else:
        assert app.exit_note == ""


async def test_every_footer_key_is_in_sight_at_80(app: AccelctlApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        [quit_key] = [k for k in app.query("FooterKey") if k.key == "q"]
        assert quit_key.region.width and quit_key.region.right <= 80 - len("^p palette")
        await pilot.click(quit_key)  # and the mouse can reach it
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app._exit
