"""The accelctl TUI: catalog, compare, reading, pools and jobs in one keyboard-first app."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.lazy import Lazy
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from accelctl.core.inventory import Inventory
from accelctl.core.store import JobStore
from accelctl.errors import AccelctlError
from accelctl.tui.screens.dialogs import HelpScreen, ProblemsScreen, confirm_cancel
from accelctl.tui.screens.logs import LogScreen
from accelctl.tui.screens.submit import SubmitScreen
from accelctl.tui.views.accelerators import AcceleratorsView
from accelctl.tui.views.compare import CompareView
from accelctl.tui.views.fit import FitView
from accelctl.tui.views.jobs import JobsView
from accelctl.tui.views.pools import PoolsView
from accelctl.tui.views.reading import ReadingView
from accelctl.tui.widgets.footer import fit_footer

LOCAL_POOL_CHECK_S = 3.0  # quitting waits at most this long to learn whether the local pool runs
TABS = (("accelerators", "Accelerators"), ("compare", "Compare"), ("reading", "Reading"), ("pools", "Pools"),
        ("jobs", "Jobs"), ("fit", "Fit"))


class AccelctlApp(App[None]):
    """Know the chips, use them."""

    CSS_PATH = Path(__file__).with_name("accelctl.tcss")  # absolute: subclasses live elsewhere
    TITLE = "accelctl"
    SUB_TITLE = "know the chips, use them"
    BINDINGS = [
        # 1-5 are listed in the help screen; the tabs show the views already.
        Binding("1", "show_tab('accelerators')", "Chips", show=False),
        Binding("2", "show_tab('compare')", "Compare", show=False),
        Binding("3", "show_tab('reading')", "Reading", show=False),
        Binding("4", "show_tab('pools')", "Pools", show=False),
        Binding("5", "show_tab('jobs')", "Jobs", show=False),
        Binding("6", "show_tab('fit')", "Fit", show=False), Binding("x", "submit", "Submit"),
        Binding("question_mark", "help", "Help"), Binding("q", "quit", "Quit"),
    ]

    def __init__(self, inventory: Inventory, store: JobStore, *, problems: list[str] | None = None,
                 log_max_lines: int | None = None) -> None:
        super().__init__()
        self.inventory = inventory
        self.store = store
        self.problems = problems or []
        self.log_max_lines = log_max_lines
        self.exit_note = ""  # printed once the terminal is back (see run_tui)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Accelerators", id="accelerators"):
                yield AcceleratorsView(self.inventory, id="accelerators-view")
            # The hidden tabs mount right after the first frame, so it comes sooner.
            with TabPane("Compare", id="compare"):
                yield Lazy(CompareView(self.inventory, id="compare-view"))
            with TabPane("Reading", id="reading"):
                yield Lazy(ReadingView(self.inventory, id="reading-view"))
            with TabPane("Pools", id="pools"):
                yield Lazy(PoolsView(self.inventory, self.store, id="pools-view"))
            with TabPane("Jobs", id="jobs"):
                yield Lazy(JobsView(self.store, id="jobs-view"))
            # After Jobs, so the number keys 1-5 keep their places.
            with TabPane("Fit", id="fit"):
                yield Lazy(FitView(self.inventory, id="fit-view"))
        yield Footer()

    def on_resize(self) -> None:
        fit_footer(self.screen)

    def on_mount(self) -> None:
        if self.problems:
            self.push_screen(ProblemsScreen("Your overlay inventory has problems; showing the bundled catalog",
                                            self.problems))

    # --- navigation ---------------------------------------------------------------------

    def close_logs(self) -> None:
        """Back to the views: a log screen is never stacked on another."""
        while isinstance(self.screen, LogScreen):
            self.pop_screen()

    def action_show_tab(self, tab: str) -> None:
        self.close_logs()
        self.query_one(TabbedContent).active = tab
        # Focus must move into the pane too: TabbedContent shows the pane that holds focus.
        targets = self.query_one(f"#{tab}", TabPane).query("VirtualTable, CompareView")
        if targets:
            targets.first().focus()
        else:  # pressed before the hidden tabs mounted (just after the first frame): once they have
            self.call_after_refresh(self.action_show_tab, tab)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_submit(self) -> None:
        def submitted(result: Any) -> None:
            if result:
                record, backend = result
                self.notify(f"submitted {record.name} as job {record.id} on {record.pool}")
                self.open_logs(record, backend)

        self.push_screen(SubmitScreen(self.inventory, self.store), submitted)

    def open_logs(self, record: Any, backend: Any = None) -> None:
        kwargs = {"max_lines": self.log_max_lines} if self.log_max_lines else {}
        self.close_logs()  # esc then goes back to the view, not to an earlier job's log
        self.push_screen(LogScreen(record, self.store, backend, **kwargs))

    async def action_quit(self) -> None:
        """Quit; if the local pool runs, say (after the TUI is gone) that it keeps running."""
        self.run_worker(self._quit(), exclusive=True, group="quit")

    async def _quit(self) -> None:
        self.exit_note = await local_pool_note()
        self.exit()

    # --- messages from the views --------------------------------------------------------

    def on_accelerators_view_compare_requested(self, message: AcceleratorsView.CompareRequested) -> None:
        self.query_one(CompareView).show(message.ids)
        self.action_show_tab("compare")

    def on_jobs_view_open_logs(self, message: JobsView.OpenLogs) -> None:
        self.open_logs(message.record)

    def on_jobs_view_cancel_requested(self, message: JobsView.CancelRequested) -> None:
        confirm_cancel(self, message.record, self.store)

    # --- command palette ----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for tab, label in TABS:
            yield SystemCommand(f"Show {label}", f"Switch to the {label} view", _bind(self.action_show_tab, tab))
        yield SystemCommand("Submit a job", "Pick a spec and a pool, see the plan, submit", self.action_submit)
        yield SystemCommand("Help", "Keys of every view", self.action_help)


def _bind(action: Callable[[str], None], value: str) -> Callable[[], None]:
    return lambda: action(value)


def local_pool_status() -> dict[str, Any] | None:
    """The local pool's head if it runs (blocking: files, /proc, one loopback request)."""
    from accelctl.backends.local import LocalRay

    return LocalRay().status()


async def local_pool_note(timeout: float = LOCAL_POOL_CHECK_S) -> str:
    """What to tell someone leaving while the local pool runs ("" when it does not)."""
    try:
        status = await asyncio.wait_for(asyncio.to_thread(local_pool_status), timeout)
    except (TimeoutError, AccelctlError, OSError):
        return ""
    if not status:
        return ""
    return (f"The local pool keeps running at {status.get('address', '127.0.0.1')}, and its jobs with it; "
            "`accelctl local stop` stops it.")


def run_tui(inventory_path: str | None) -> None:
    """Load the inventory (falling back to the bundled one on overlay problems) and run."""
    from accelctl import paths
    from accelctl.core.inventory import load_inventory
    from accelctl.core.problems import ProblemsFound
    from accelctl.core.store import default_store

    problems: list[str] = []
    try:
        inventory = load_inventory(paths.user_overlay(inventory_path))
    except ProblemsFound as e:
        problems = [str(p) for p in e.problems]
        inventory = load_inventory()  # the bundled file alone; its own problems are a bug and raise
    app = AccelctlApp(inventory, default_store(), problems=problems)
    app.run()
    if app.exit_note:
        sys.stderr.write(app.exit_note + "\n")
