"""One job's output, live: follow, pause, search, save; a badge when the stream reconnects."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from accelctl.backends import backend_of
from accelctl.backends.base import Backend
from accelctl.backends.jobs import record_status
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore
from accelctl.errors import AccelctlError
from accelctl.tui.widgets.log_view import DEFAULT_MAX_LINES, LogView


class LogScreen(Screen):
    """Follows the job until it ends; esc goes back (the job keeps running)."""

    BINDINGS = [Binding("escape", "back", "Back"), Binding("f", "toggle_follow", "Follow/pause"),
                Binding("slash", "search", "Search"), Binding("n", "next_match", "Next match"),
                Binding("w", "save", "Save"), Binding("ctrl+d", "cancel", "Cancel job")]

    def __init__(self, record: JobRecord, store: JobStore, backend: Backend | None = None,
                 max_lines: int = DEFAULT_MAX_LINES) -> None:
        super().__init__()
        self.record = record
        self.store = store
        self.backend = backend
        self.max_lines = max_lines
        self.reconnects = 0
        self.state = record.state
        self.search_text = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Static(id="log-status")
            yield Static("", id="log-badge")
        yield LogView(self.max_lines, id="log-view")
        yield Input(placeholder="search (enter: find, esc: close)", id="log-search", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LogView).focus()
        self.update_status()
        self.run_worker(self.stream(), exclusive=True, group="logs")

    async def stream(self) -> None:
        """Feed the log widget from the backend's line iterator until the job ends."""
        view = self.query_one(LogView)
        try:
            backend = self.backend or backend_of(self.record)
            async for batch in backend.logs(self.record.backend_id, follow=True, notice=self.on_notice):
                view.append(batch.lines)
                self.update_status()
            status = await backend.status(self.record.backend_id)
        except AccelctlError as e:
            self.notify(e.message, severity="error", timeout=8)
            return
        self.state = status.state
        record_status(self.store, self.record, status)
        self.update_status()
        self.notify(f"job {self.record.id} {status.state.lower()}",
                    severity="information" if status.state == JobState.SUCCEEDED else "warning")

    def on_notice(self, message: str, *, reconnect: bool = False) -> None:
        if reconnect:
            self.reconnects += 1
            self.query_one("#log-badge", Static).update(f" ⟳ reconnected ×{self.reconnects} ")
        self.update_status()

    def update_status(self) -> None:
        view = self.query_one(LogView)
        mode = "following" if view.following else "paused"
        trimmed = f" · {view.trimmed:,} oldest lines trimmed (cap {view.max_lines:,})" if view.trimmed else ""
        self.query_one("#log-status", Static).update(
            f" {self.record.id} · {self.record.name} · {self.record.pool} · {self.state} · "
            f"{len(view.lines) + view.trimmed:,} lines · {mode}{trimmed}")

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
        self.search_text = event.value
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
