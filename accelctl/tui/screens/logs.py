"""One job's output, live: follow, pause, search, save; a badge when the stream reconnects.

The status bar tracks the job as the Jobs view does: its state asked of the backend every
STATE_EVERY_S (PENDING -> RUNNING -> the end), its duration ticking each second.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from accelctl.backends.base import Backend, JobLog, JobStatus
from accelctl.backends.jobs import REFRESH_TIMEOUT_S, job_log, record_status
from accelctl.core.jobstate import JobState
from accelctl.core.numbers import duration
from accelctl.core.store import JobRecord, JobStore
from accelctl.errors import AccelctlError
from accelctl.tui.widgets.footer import fit_footer
from accelctl.tui.widgets.log_view import DEFAULT_MAX_LINES, LogView

STATE_EVERY_S = 1.5
TICK_S = 1.0


class LogScreen(Screen):
    """Follows the job until it ends; esc goes back (the job keeps running)."""

    BINDINGS = [Binding("escape", "back", "Back"), Binding("f", "toggle_follow", "Follow/pause"),
                Binding("slash", "search", "Search"), Binding("n", "next_match", "Next match"),
                Binding("w", "save", "Save"), Binding("ctrl+d", "cancel", "Cancel job")]

    def __init__(self, record: JobRecord, store: JobStore, backend: JobLog | None = None,
                 max_lines: int = DEFAULT_MAX_LINES) -> None:
        super().__init__()
        self.record = record
        self.store = store
        self.backend = backend
        self.max_lines = max_lines
        self.reconnects = 0
        self.state = record.state
        self.ended_at = record.ended_at
        self.state_note = ""  # why the state may be stale (the pool did not answer)
        self.search_text = ""
        self._poll: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Static(id="log-status")
            yield Static("", id="log-badge")
        yield LogView(self.max_lines, id="log-view")
        yield Input(placeholder="search (enter: find, esc: close)", id="log-search", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        fit_footer(self)
        self.query_one(LogView).focus()
        self.update_status()
        self.run_worker(self.stream(), exclusive=True, group="logs")
        self.set_interval(TICK_S, self.update_status)
        if not self.state.terminal:
            self._poll = self.set_interval(STATE_EVERY_S, self.poll_state)
            self.poll_state()

    def _source(self) -> JobLog:
        """The job's backend, or the kept output of a job that has ended (no pool needed)."""
        if self.backend is None:
            self.backend = job_log(self.record)
        return self.backend

    async def stream(self) -> None:
        """Feed the log widget from the backend's line iterator until the job ends."""
        view = self.query_one(LogView)
        try:
            source = self._source()
            async with aclosing(source.logs(self.record.backend_id, follow=True, notice=self.on_notice)) as lines:
                async for batch in lines:
                    view.append(batch.lines)
                    self.update_status()
            status = await source.status(self.record.backend_id)
        except AccelctlError as e:
            self.notify(e.message, severity="error", timeout=8)
            return
        await self.set_state(status)

    def poll_state(self) -> None:
        if not self.state.terminal:
            self.run_worker(self._poll_state(), exclusive=True, group="state")

    async def _poll_state(self) -> None:
        """Ask the backend for the job's state (within REFRESH_TIMEOUT_S); keep the last on silence."""
        try:
            status = await asyncio.wait_for(self._source().status(self.record.backend_id), REFRESH_TIMEOUT_S)
        except TimeoutError:
            self.state_note = f"pool {self.record.pool} did not answer within {REFRESH_TIMEOUT_S:g} s"
        except AccelctlError as e:
            self.state_note = e.message
        else:
            # While a job waits, the backend's message says why (e.g. a pod that cannot be scheduled).
            self.state_note = status.message if status.state == JobState.PENDING else ""
            await self.set_state(status)
        self.update_status()

    async def set_state(self, status: JobStatus) -> None:
        """Show and store a state the backend reported; at the end, say how the job ended, once."""
        if status.state == self.state and not status.state.terminal:
            return
        was_terminal = self.state.terminal and self.ended_at is not None
        self.state = status.state
        source = self._source()
        if isinstance(source, Backend):  # kept output is of a job whose end is recorded already
            await record_status(self.store, self.record, status, source)
        if status.state.terminal:
            if self._poll is not None:
                self._poll.stop()
            stored = await asyncio.to_thread(self.store.get, self.record.id)
            self.ended_at = stored.ended_at if stored is not None else None
            if not was_terminal:
                self.notify(f"job {self.record.id} {status.state.lower()}",
                            severity="information" if status.state == JobState.SUCCEEDED else "warning")
        self.update_status()

    def on_notice(self, message: str, *, reconnect: bool = False) -> None:
        if reconnect:  # streams.follow says each outage once
            self.reconnects += 1
            self.query_one("#log-badge", Static).update(f" ⟳ reconnected ×{self.reconnects} ")
        self.update_status()

    def update_status(self) -> None:
        view = self.query_one(LogView)
        mode = "following" if view.following else "paused"
        trimmed = f" · {view.trimmed:,} oldest lines trimmed (cap {view.max_lines:,})" if view.trimmed else ""
        ended = self.ended_at if self.state.terminal else None
        took = duration(self.record.submitted_at, ended) if ended or not self.state.terminal else "-"
        note = f" ({self.state_note})" if self.state_note else ""
        search = f' · search "{self.search_text}"' if self.search_text else ""
        self.query_one("#log-status", Static).update(
            f" {self.record.id} · {self.record.name} · {self.record.pool} · {self.state}{note} · {took} · "
            f"{len(view.lines) + view.trimmed:,} lines · {mode}{search}{trimmed}")

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if not search.has_class("hidden"):
            search.add_class("hidden")
            self.query_one(LogView).focus()
            return
        self.app.pop_screen()

    def action_toggle_follow(self) -> None:
        view = self.query_one(LogView)
        view.pause() if view.following else view.resume()
        self.update_status()

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.remove_class("hidden")
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Back to the log, so `n` (next match) and `w` (save) are keys again, not text.
        self.search_text = event.value
        event.input.add_class("hidden")
        self.query_one(LogView).focus()
        self.action_next_match()

    def action_next_match(self) -> None:
        if not self.search_text:
            return
        found = self.query_one(LogView).find(self.search_text)
        if found is None:
            self.notify(f'"{self.search_text}" not found', severity="warning", timeout=2)
        self.update_status()

    def action_save(self) -> None:
        path = Path.cwd() / f"accelctl-{self.record.id}.log"
        try:
            path.write_text(self.query_one(LogView).text())
        except OSError as e:
            self.notify(f"cannot save {path}: {e.strerror}", severity="error")
            return
        self.notify(f"saved to {path}", timeout=3)

    def action_cancel(self) -> None:
        from accelctl.tui.screens.dialogs import confirm_cancel

        confirm_cancel(self.app, self.record, self.store)
