"""Pools: backend, accelerator, reachability (probed in the background) and running jobs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from accelctl.backends.jobs import probe_pool
from accelctl.core.inventory import Inventory
from accelctl.core.models import Pool
from accelctl.core.store import JobStore
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

COLUMNS = [Column("name", "NAME", 14), Column("backend", "BACKEND", 10), Column("accelerator", "ACCELERATOR", 22),
           Column("size", "CHIPSxNODES", 11), Column("running", "RUNNING", 7, True),
           Column("reach", "REACHABLE", 60)]
PROBE_EVERY_S = 30


class PoolsView(Vertical):
    """`r` probes every pool again."""

    BINDINGS = [Binding("r", "probe", "Probe again")]

    def __init__(self, inventory: Inventory, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.store = store
        self.reach: dict[str, str] = {p.name: "probing..." for p in inventory.pools}

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, id="pools-table")
        yield Static("example pools show each backend's shape; copy one to your overlay to use it",
                     classes="hint")

    def on_mount(self) -> None:
        self.render_rows()
        self.action_probe()
        self.set_interval(PROBE_EVERY_S, self.action_probe)

    def render_rows(self) -> None:
        running: dict[str, int] = {}
        for job in self.store.list(include_done=False):
            running[job.pool] = running.get(job.pool, 0) + 1
        rows = [(p.name, p.backend, p.accelerator, f"{p.count}x{p.nodes}", str(running.get(p.name, 0)),
                 ("example · " if p.example else "") + self.reach[p.name]) for p in self.inventory.pools]
        self.query_one(VirtualTable).set_rows(rows, [p.name for p in self.inventory.pools])

    def action_probe(self) -> None:
        for pool in self.inventory.pools:
            self.run_worker(self._probe(pool), group="probe", exclusive=False)

    async def _probe(self, pool: Pool) -> None:
        probe = await probe_pool(pool)
        self.reach[pool.name] = ("✓ " if probe.ok else "✗ ") + probe.detail
        self.render_rows()
