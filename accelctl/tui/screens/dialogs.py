"""Modal dialogs: confirmation, help, problems."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore
from accelctl.errors import AccelctlError


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no; `y` / `n` / esc work too."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def confirm_cancel(app: App[Any], record: JobRecord, store: JobStore) -> None:
    """Ask, then cancel the job in the background and say how it went."""
    from accelctl.backends.jobs import cancel_job

    async def cancel() -> None:
        app.notify(f"cancelling job {record.id}...", timeout=3)
        try:
            status = await cancel_job(store, record)
        except AccelctlError as e:
            app.notify(e.message, severity="error")
            return
        if status.state == JobState.CANCELLED:
            app.notify(f"job {record.id} cancelled")
        elif status.state.terminal:
            app.notify(f"job {record.id} had already ended: {status.state.lower()}")
        else:
            app.notify(f"job {record.id} is still {status.state.lower()} after the cancel request",
                       severity="warning")

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(cancel(), group="cancel")

    app.push_screen(ConfirmScreen(f"Cancel job {record.id} ({record.name}) on {record.pool}?"), answered)


HELP = """\
[b]Views[/b]   1 Accelerators  2 Compare  3 Reading  4 Pools  5 Jobs  6 Fit   ctrl+p command palette
[b]Anywhere[/b]  ? help  x submit a job  q quit  (the mouse works too)

[b]Accelerators[/b]  / filter (same words as `accelctl ls -q`)  s sort  r reverse
              space mark (2-4)  c compare marked  b baseline for the bars  esc clear
[b]Reading[/b]       / filter (words, acc:ID, topic:T, section:S)  o open  d discussion  y copy
[b]Pools[/b]         r probe again
[b]Jobs[/b]          l / enter logs  ctrl+d cancel  a all or active only
[b]Fit[/b]           choose a model, mode, precision, context, batch: chips, speed, cost, memory bars
[b]Logs[/b]          f follow/pause  / search  n next match  w save  ctrl+d cancel  esc back
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(HELP)
            yield Button("Close", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class ProblemsScreen(ModalScreen[None]):
    """Problems of a file, one per line as `path:line:column: key: message`."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, title: str, problems: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.problems = problems

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(f"[b]{self.title_text}[/b]")
            yield Static("\n".join(self.problems), markup=False)
            yield Button("Close", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)
