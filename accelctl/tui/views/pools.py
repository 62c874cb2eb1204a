"""Pools: backend, accelerator, reachability (probed in the background) and running jobs.

Below the table, the highlighted pool in full: its reachability and, for an SSH pool, its
last accelerator probe (`accelctl pools probe`, or `p` here) per host, with the probe's
time. `p` runs that probe in a worker; a host that does not answer is shown as such.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from accelctl.backends import ssh_conn, ssh_probe
from accelctl.backends.jobs import probe_pool
from accelctl.core.inventory import Inventory
from accelctl.core.pools import Pool, SshPool
from accelctl.core.store import JobStore
from accelctl.errors import AccelctlError
from accelctl.tui.widgets.virtual_table import GAP, Column, VirtualTable

# Every column as wide as its longest value; REACHABLE takes the rest of the width (its
# text cut with "…" in a narrow window: the panel below shows the highlighted pool's whole).
COLUMNS = [Column("name", "NAME", 4), Column("backend", "BACKEND", 7), Column("accelerator", "ACCELERATOR", 11),
           Column("size", "CHIPSxNODES", 11), Column("running", "RUNNING", 7, True),
           Column("reach", "REACHABLE", 9)]
PROBE_EVERY_S = 30


class PoolsView(Vertical):
    """`r` probes every pool again; `p` asks the highlighted SSH pool's hosts for their accelerators."""

    BINDINGS = [Binding("r", "probe", "Probe again"), Binding("p", "probe_hosts", "Probe hosts")]
    DEFAULT_CSS = """
    PoolsView > #pool-detail { height: auto; max-height: 12; padding: 0 1; border-top: solid $primary 30%; }
    """

    def __init__(self, inventory: Inventory, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.store = store
        self.reach: dict[str, str] = {p.name: "probing..." for p in inventory.pools}
        self.hosts: dict[str, tuple[float, list[ssh_probe.HostProbe]] | None] = {}  # SSH pools' last probe
        self.probing: dict[str, str] = {}  # pool -> "probing hosts..." or why the last probe failed
        self.running: dict[str, int] = {}  # pool -> its jobs not ended yet, as the store last said

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, id="pools-table", fit=True)
        yield Static("", id="pool-detail")
        yield Static("example pools show each backend's shape; copy one to your overlay to use it",
                     classes="hint")

    def on_mount(self) -> None:
        # A host key trusted on first use (`accept-new`) is said on stderr, which the TUI hides:
        # while the app runs it is a notification instead (from any view: the hook is global).
        ssh_conn.tell = self._tell
        self.run_worker(self._load_probes(), group="probe-cache")
        self.render_rows()
        self.action_probe()
        self.set_interval(PROBE_EVERY_S, self.action_probe)

    def on_unmount(self) -> None:
        ssh_conn.tell = ssh_conn.to_stderr

    def _tell(self, text: str) -> None:
        """ssh_conn's notices, from the worker threads that connect (or the loop itself)."""
        try:
            self.app.call_from_thread(self.app.notify, text, title="SSH", timeout=15)
        except RuntimeError:  # on the app's own thread
            self.app.notify(text, title="SSH", timeout=15)

    def _ssh_pools(self) -> list[Pool]:
        return [p for p in self.inventory.pools if isinstance(p, SshPool)]

    async def _load_probes(self) -> None:
        """The SSH pools' cached probes (files: read off the event loop)."""
        for pool in self._ssh_pools():
            self.hosts[pool.name] = await asyncio.to_thread(ssh_probe.load, pool.name)
        self.render_detail()

    def count_running(self) -> dict[str, int]:
        """Pool -> how many of its jobs have not ended (blocking: reads the store)."""
        running: dict[str, int] = {}
        for job in self.store.list(include_done=False):
            running[job.pool] = running.get(job.pool, 0) + 1
        return running

    def render_rows(self) -> None:
        running = self.running
        rows = [(p.name, p.backend, p.accelerator, f"{p.count}x{p.nodes}", str(running.get(p.name, 0)),
                 ("example · " if p.example else "") + self.reach[p.name]) for p in self.inventory.pools]
        table = self.query_one(VirtualTable)
        table.set_rows(rows, [p.name for p in self.inventory.pools])
        self.fit_columns()
        self.render_detail()

    def fit_columns(self) -> None:
        """Columns as wide as their values, REACHABLE the rest of the table's width."""
        table = self.query_one(VirtualTable)
        rows = table.rows
        fixed = [replace(c, width=max([c.width, *(len(r[i]) for r in rows)]), required=True)
                 for i, c in enumerate(COLUMNS[:-1])]
        scrollbar = table.styles.scrollbar_size_vertical if len(rows) + 1 > table.size.height else 0
        rest = table.size.width - scrollbar - table.width_of(fixed) - GAP
        columns = [*fixed, replace(COLUMNS[-1], width=max(COLUMNS[-1].width, rest), required=True)]
        if columns != table.columns:
            table.columns = columns
            table.fit_columns()

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_columns)

    def current_pool(self) -> Pool | None:
        key = self.query_one(VirtualTable).current_key
        return next((p for p in self.inventory.pools if p.name == key), None)

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.render_detail()

    def render_detail(self) -> None:
        """The highlighted pool: reachability whole and, for an SSH pool, its hosts' probe."""
        pool = self.current_pool()
        if pool is None or not self.is_mounted:
            return
        lines = [f"{pool.name}: {self.reach.get(pool.name, '')}"]
        if isinstance(pool, SshPool):
            lines += self.host_lines(pool.name)
        self.query_one("#pool-detail", Static).update("\n".join(lines))

    def host_lines(self, pool: str) -> list[str]:
        """One line per host of the pool's last probe, under its time."""
        state = self.probing.get(pool)
        probed = self.hosts.get(pool)
        if probed is None:
            return [state or "hosts not probed yet: p probes them"]
        when, results = probed
        head = f"hosts, probed {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}"
        lines = [head + (f" ({state})" if state else "") + ":"]
        for result in results:
            if not result.ok:
                lines.append(f"  ✗ {result.host}: no answer: {result.error}")
            else:
                lines.append("  ✓ " + ssh_probe.summary([result]))
        return lines

    def action_probe(self) -> None:
        for pool in self.inventory.pools:
            self.run_worker(self._probe(pool), group="probe", exclusive=False)

    async def _probe(self, pool: Pool) -> None:
        probe = await probe_pool(pool)
        self.reach[pool.name] = ("✓ " if probe.ok else "✗ ") + probe.detail
        try:  # off the event loop: a store busy with many writers must not freeze the TUI
            self.running = await asyncio.to_thread(self.count_running)
        except AccelctlError:
            pass  # the counts stay as last read; the Jobs view says what is wrong with the store
        self.render_rows()

    def action_probe_hosts(self) -> None:
        pool = self.current_pool()
        if pool is None:
            return
        if not isinstance(pool, SshPool):
            self.notify(f"{pool.name} is a {pool.backend} pool: p lists an SSH pool's accelerators per host; "
                        "r checks whether pools answer", severity="warning")
            return
        if self.probing.get(pool.name) == "probing hosts...":
            return  # one probe of a pool at a time
        self.probing[pool.name] = "probing hosts..."
        self.render_detail()
        self.run_worker(self._probe_hosts(pool), group=f"hosts-{pool.name}")

    async def _probe_hosts(self, pool: Pool) -> None:
        from accelctl.backends import backend_for

        try:
            backend = backend_for(pool)
            try:
                results = await backend.probe_accelerators(list(self.inventory.accelerators))  # type: ignore[attr-defined]
            finally:
                await asyncio.to_thread(backend.connections.close)  # type: ignore[attr-defined]
        except AccelctlError as e:
            self.probing[pool.name] = f"probe failed: {e.message}"
        else:
            self.probing.pop(pool.name, None)
            self.hosts[pool.name] = (time.time(), results)
        self.render_detail()
