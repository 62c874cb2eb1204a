"""Pick a job spec and a pool, see the plan, submit, and land in the job's logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from accelctl.backends.jobs import plan, submit_job
from accelctl.core.inventory import Inventory
from accelctl.core.jobspec import load_jobspec
from accelctl.core.placement import place
from accelctl.core.store import JobStore
from accelctl.errors import AccelctlError

AUTO = "(first pool that fits)"


class SubmitScreen(ModalScreen[Any]):
    """Dismisses with (record, backend) after a submission, None when closed."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("ctrl+s", "submit", "Submit")]

    def __init__(self, inventory: Inventory, store: JobStore, specs_dir: Path | None = None) -> None:
        super().__init__()
        self.inventory = inventory
        self.store = store
        self.specs_dir = specs_dir or Path.cwd() / "jobs"
        self.specs = sorted(self.specs_dir.glob("*.yaml"))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("[b]Submit a job[/b]")
            if self.specs:
                prompt = f"a spec from {self.specs_dir}"
            else:  # say where we looked, so "nothing to pick" is not a mystery
                prompt = f"no job specs (*.yaml) in {self.specs_dir}: type a path below"
            yield Select([(p.name, str(p)) for p in self.specs], prompt=prompt, id="spec-select",
                         allow_blank=True, disabled=not self.specs)
            yield Input(placeholder="or a path to a job spec (enter: plan)", id="spec-path")
            yield Select([(AUTO, "")] + [(p.name + (" (example)" if p.example else ""), p.name)
                                         for p in self.inventory.pools], value="", id="pool-select",
                         allow_blank=False)
            # The buttons come before the plan, so a long plan in a short terminal never hides them.
            with Horizontal(classes="buttons"):
                yield Button("Plan", id="plan-button")
                yield Button("Submit (ctrl+s)", variant="primary", id="submit-button")
                yield Button("Close", id="close-button")
            yield Static("", id="plan")

    def _spec_path(self) -> str | None:
        typed = self.query_one("#spec-path", Input).value.strip()
        if typed:
            return typed
        chosen = self.query_one("#spec-select", Select).value
        return chosen if isinstance(chosen, str) else None

    def _resolve(self) -> Any:
        path = self._spec_path()
        if not path:
            raise AccelctlError("choose a spec from the list or type a path")
        spec = load_jobspec(path)
        pool = self.query_one("#pool-select", Select).value
        return spec, place(spec, self.inventory, pool if isinstance(pool, str) and pool else None)

    def show_plan(self) -> Any:
        """Render the dry-run plan; the (spec, placement), or None with the problem shown."""
        target = self.query_one("#plan", Static)
        try:
            spec, placement = self._resolve()
            steps = plan(spec, placement)
        except AccelctlError as e:
            target.update(f"[red]{e}[/red]")
            return None
        manifests = steps.pop("manifests", None)
        rows = "\n".join(f"[b]{k}[/b]: {escape(str(v))}" for k, v in steps.items() if v not in (None, {}, ""))
        if manifests:  # a Kubernetes pool: what would be applied, as `accelctl render` prints it
            from accelctl.backends.k8s_manifests import to_yaml

            rows += "\n[b]manifests[/b]:\n" + escape(to_yaml(manifests))
        target.update(rows)
        return spec, placement

    def on_select_changed(self, event: Select.Changed) -> None:
        self.show_plan()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.show_plan()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "plan-button":
            self.show_plan()
        elif event.button.id == "submit-button":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        resolved = self.show_plan()
        if resolved:
            self.submit(*resolved)

    @work(exclusive=True, group="submit")
    async def submit(self, spec: Any, placement: Any) -> None:
        status = self.query_one("#plan", Static)
        status.update(f"submitting {spec.name} to {placement.pool.name}...")
        try:
            result = await submit_job(spec, placement, self.store, progress=lambda m: self.app.call_from_thread(
                self.notify, m, timeout=4))
        except AccelctlError as e:
            status.update(f"[red]{e}[/red]")
            return
        self.dismiss(result)
