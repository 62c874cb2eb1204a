"""Every job in the store, with states refreshed live from the backends.

The store is read off the event loop: with many accelctl processes writing at once (fifty
submits from a shell loop), opening it can wait on their locks, and the TUI must not.
"""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from accelctl.backends.jobs import refresh_states
from accelctl.core.numbers import duration, timestamp
from accelctl.core.store import JobRecord, JobStore
from accelctl.errors import AccelctlError
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

# In a narrow window the columns of lowest priority are hidden whole, never cut.
COLUMNS = [Column("id", "ID", 8, required=True), Column("name", "NAME", 20, priority=60),
           Column("pool", "POOL", 12, priority=40), Column("state", "STATE", 10, required=True),
           Column("submitted", "SUBMITTED", 19, priority=20), Column("duration", "DURATION", 8, True, priority=50),
           Column("exit", "EXIT", 4, True, priority=30), Column("message", "MESSAGE", 60, priority=10)]
READ_EVERY_S = 1.0
REFRESH_EVERY_S = 3.0


class JobsView(Vertical):
    """`l` or enter opens a job's logs; ctrl+d cancels it."""

    BINDINGS = [Binding("l", "logs", "Logs"), Binding("ctrl+d", "cancel", "Cancel job"),
                Binding("a", "toggle_all", "All/active")]

    class OpenLogs(Message):
        def __init__(self, record: JobRecord) -> None:
            super().__init__()
            self.record = record

    class CancelRequested(Message):
        def __init__(self, record: JobRecord) -> None:
            super().__init__()
            self.record = record

    def __init__(self, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.show_all = True
        self.records: dict[str, JobRecord] = {}
        self.notes: dict[str, str] = {}
        self.store_error = ""  # why the last read of the store failed ("" once one works)
        self._reading = False  # a read of the store is under way
        self._stale = False  # ... and another was asked for meanwhile

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, id="jobs-table", fit=True)
        yield Static("", id="jobs-notes", classes="hint")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(READ_EVERY_S, self.reload)
        self.set_interval(REFRESH_EVERY_S, self.refresh_states)
        self.refresh_states()

    def reload(self) -> None:
        """Read the store in a worker thread, then redraw. Asked again while a read is under
        way, it reads once more after that one (requests coalesce, none is lost)."""
        if self._reading:
            self._stale = True
            return
        self._reading = True
        self.run_worker(self._read(), group="read")

    async def _read(self) -> None:
        try:
            while True:
                self._stale = False
                show_all = self.show_all
                try:
                    records = await asyncio.to_thread(self.store.list, include_done=show_all)
                except AccelctlError as e:
                    self.store_error = e.message  # kept on screen; the next read tries again
                    self.update_notes()
                    return
                self.store_error = ""
                if show_all == self.show_all:  # else `a` was pressed meanwhile: the next round reads anew
                    self.show_records(records)
                if not self._stale:
                    return
        finally:
            self._reading = False

    def show_records(self, records: list[JobRecord]) -> None:
        """Redraw the table with `records`."""
        self.records = {r.id: r for r in records}
        rows = [(r.id, r.name, r.pool, r.state + (" ?" if r.id in self.notes else ""),
                 timestamp(r.submitted_at) or "-", duration(r.submitted_at, r.ended_at),
                 "-" if r.exit_code is None else str(r.exit_code), r.message)
                for r in records]
        self.query_one(VirtualTable).set_rows(rows, [r.id for r in records])
        self.update_notes()

    def update_notes(self) -> None:
        hidden = self.query_one(VirtualTable).hidden
        keys = "l logs · ctrl+d cancel · a all/active" + (
            f" · hidden at this width: {', '.join(c.label for c in hidden)}" if hidden else "")
        notes = "  ".join(f"{k}: {v}" for k, v in self.notes.items())
        self.query_one("#jobs-notes", Static).update(self.store_error or notes or keys)

    def on_virtual_table_columns_changed(self, event: VirtualTable.ColumnsChanged) -> None:
        self.update_notes()

    def refresh_states(self) -> None:
        self.run_worker(self._refresh(), group="refresh", exclusive=True)

    async def _refresh(self) -> None:
        """Ask the backends for the states of the jobs not ended yet (the store read off the loop)."""
        try:
            active = await asyncio.to_thread(self.store.list, include_done=False)
        except AccelctlError:
            return  # the store's trouble is shown by the next read
        if active:
            self.notes = await refresh_states(self.store, active)
            self.reload()

    def _current(self) -> JobRecord | None:
        key = self.query_one(VirtualTable).current_key
        return self.records.get(key) if key else None

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        self.action_logs()

    def action_logs(self) -> None:
        if record := self._current():
            self.post_message(self.OpenLogs(record))

    def action_cancel(self) -> None:
        record = self._current()
        if record and not record.terminal:
            self.post_message(self.CancelRequested(record))
        elif record:
            self.notify(f"job {record.id} already {record.state.lower()}", timeout=2)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.reload()
