"""Will it fit: a model and its options against every accelerator (or pool), with memory bars.

The planning itself is `core.fit` (the same as `accelctl fit`); it runs in a worker thread
after the options settle, so typing a context never waits on it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Select, Static

from accelctl.core import fit as planner
from accelctl.core.inventory import Inventory
from accelctl.core.models import CPU, Accelerator
from accelctl.core.numbers import num
from accelctl.core.pools import PoolBase
from accelctl.errors import AccelctlError
from accelctl.tui.format import bar
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

COLUMNS = [Column("accelerator", "ACCELERATOR", 26, required=True), Column("fits", "FITS", 4, required=True),
           Column("chips", "CHIPS", 5, True, required=True), Column("gb", "GB/CHIP", 7, True, priority=70),
           Column("prefill", "PREFILL tok/s", 13, True, priority=40),
           Column("decode_seq", "DECODE tok/s/seq", 16, True, priority=60),
           Column("decode", "DECODE tok/s", 12, True, priority=50), Column("usd", "$/HOUR", 8, True, priority=30),
           Column("why", "WHY", 40, priority=10)]
TRAIN_COLUMNS = [*COLUMNS[:4], Column("train", "TRAIN tok/s", 11, True, priority=60), *COLUMNS[7:]]
DEFAULT_MODEL = "llama-3.1-8b"  # a model most people can place, to start from
SETTLE_S = 0.3  # options are re-planned once they stop changing for this long
NARROW = 120  # below this many columns the memory bars give their width to the table
_PARTS = (("weights", "weights"), ("kv_cache", "KV cache"), ("activations", "activations"),
          ("gradients", "gradients"), ("optimizer", "optimizer"), ("overhead", "overhead"))


class FitView(Vertical):
    """Pick a model, mode, precision, context and batch; the table and bars follow."""

    def __init__(self, inventory: Inventory, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.rows: dict[str, planner.FitRow] = {}
        self.request: planner.FitRequest | None = None
        self.hidden: list[str] = []  # column labels that do not fit the width
        self._timer: Any = None

    def compose(self) -> ComposeResult:
        models = [(m.name, m.id) for m in self.inventory.models]
        ids = [model_id for _, model_id in models]
        first = DEFAULT_MODEL if DEFAULT_MODEL in ids else (ids[0] if ids else Select.BLANK)
        with Horizontal(id="fit-options"):
            yield Select(models, value=first, id="fit-model", allow_blank=False)
            yield Select([(m, m) for m in planner.MODES], value="inference", id="fit-mode", allow_blank=False)
            yield Select([(p, p) for p in planner.PRECISIONS], value="bf16", id="fit-precision", allow_blank=False)
            yield Input(placeholder="context (default: model max, <= 8192)", id="fit-context", type="integer")
            yield Input(value="1", placeholder="batch", id="fit-batch", type="integer")
        with Horizontal(id="fit-body"):
            yield VirtualTable(COLUMNS, id="fit-table", fit=True)
            with VerticalScroll(id="fit-detail"):
                yield Static(id="fit-breakdown")
        yield Static("", id="fit-note", classes="hint")

    def on_mount(self) -> None:
        self.replan()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "narrow")

    def on_virtual_table_columns_changed(self, event: VirtualTable.ColumnsChanged) -> None:
        self.hidden = [c.label for c in event.hidden]
        self._update_note()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.replan()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.replan()

    def replan(self) -> None:
        """Plan again once the options settle (a debounce, so each keystroke costs nothing)."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(SETTLE_S, self._start_plan)

    def _start_plan(self) -> None:
        try:
            request = self._request()
        except (AccelctlError, ValueError) as e:
            self.query_one("#fit-note", Static).update(Text(str(e), style="red"))
            return
        self.run_worker(lambda: self._plan(request), thread=True, exclusive=True, group="fit")

    def _request(self) -> planner.FitRequest:
        model_id = self.query_one("#fit-model", Select).value
        if not isinstance(model_id, str):
            raise AccelctlError("the catalog has no models")
        context_text = self.query_one("#fit-context", Input).value.strip()
        batch_text = self.query_one("#fit-batch", Input).value.strip() or "1"
        request = planner.FitRequest(
            model=self.inventory.model(model_id), mode=str(self.query_one("#fit-mode", Select).value),  # type: ignore[arg-type]
            precision=str(self.query_one("#fit-precision", Select).value),
            context=int(context_text) if context_text else None, batch=int(batch_text))
        planner.validate(request)
        return request

    def _plan(self, request: planner.FitRequest) -> None:
        """In a worker thread: every accelerator with figures, and every pool with chips."""
        chips = [a for a in self.inventory.accelerators if a.memory_gb is not None and a.mem_bw_tbps is not None
                 and a.status is None and planner.peak_flops(a, request.precision) is not None]
        pools: list[tuple[PoolBase, Accelerator]] = [
            (p, self.inventory.accelerator(p.accelerator)) for p in self.inventory.pools
            if p.accelerator != CPU and not p.example]
        rows = planner.fit_rows(request, chips, pools, self.inventory.prices)
        self.app.call_from_thread(self._show, request, rows)

    def _show(self, request: planner.FitRequest, rows: list[planner.FitRow]) -> None:
        self.request = request
        training = request.mode != "inference"
        keys = [f"{r.pool or ''}/{r.accelerator}" for r in rows]
        self.rows = dict(zip(keys, rows))
        table = self.query_one(VirtualTable)
        table.set_columns(TRAIN_COLUMNS if training else COLUMNS)
        table.set_rows([_cells(r, training) for r in rows], keys)
        self._update_note()
        self.show_detail(table.current_key)

    def _update_note(self) -> None:
        if self.request is None:
            return
        request, rows = self.request, self.rows.values()
        fitting = sum(1 for r in rows if r.fits)
        hidden = f" · hidden at this width: {', '.join(self.hidden)}" if self.hidden else ""
        self.query_one("#fit-note", Static).update(
            f"fits on {fitting} of {len(rows)}{hidden} · {request.model.name}, context {request.tokens:,}, batch "
            f"{request.batch}, {request.precision} weights, {request.kv_dtype} KV · speeds are rooflines "
            "(upper bounds)")

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.show_detail(event.key)

    def show_detail(self, key: str | None) -> None:
        row = self.rows.get(key or "")
        detail = self.query_one("#fit-breakdown", Static)
        if row is None or self.request is None:
            detail.update("")
            return
        detail.update(render_breakdown(row, self.request))


def _cells(r: planner.FitRow, training: bool) -> tuple[str, ...]:
    name = f"{r.pool} ({r.accelerator})" if r.pool else r.accelerator
    per_chip = None if not r.chips else r.memory.total / r.chips / 1e9
    speed = (_rate(r.train_tokens_s),) if training else (
        _rate(r.prefill_tokens_s), _rate(r.decode_tokens_s_per_seq), _rate(r.decode_tokens_s))
    usd = "-" if r.usd_per_hour is None else f"{r.usd_per_hour:,.2f}"
    return (name, "yes" if r.fits else "no", num(r.chips), num(None if per_chip is None else round(per_chip, 1)),
            *speed, usd, r.why)


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def render_breakdown(row: planner.FitRow, request: planner.FitRequest) -> Group:
    """The memory of one plan, part by part, with bars against the total."""
    total = row.memory.total
    bars = Table.grid(padding=(0, 1))
    for field, label in _PARTS:
        value = getattr(row.memory, field)
        if value:
            bars.add_row(label, Text(bar(value, total), style="green"), f"{value / 1e9:,.1f} GB")
    where = f"{row.chips} x {row.accelerator}" + (f" on {row.nodes} node(s)" if row.nodes and row.nodes > 1 else "")
    lines: list[RenderableType] = [Text(f"{request.model.name} on {row.pool or row.accelerator}", style="bold"),
             Text(where if row.fits else f"does not fit: {row.why}", style="" if row.fits else "red"),
             Text(f"total {total / 1e9:,.1f} GB · KV cache {num(row.kv_bytes_per_token)} bytes per token"), bars]
    if row.price_source:
        lines.append(Text(f"price: {row.price_source}", style="dim"))
    return Group(*lines)
