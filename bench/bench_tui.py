"""TUI responsiveness, headless (App.run_test), beside a plain Textual DataTable.

    python bench/bench_tui.py

- first frame (from creating the app to Textual's Ready event: the first frame is on
  screen) with the bundled inventory, and with a generated 10,000-accelerator one
  (budgets 0.6 s and 1.0 s), beside a DataTable app that adds the same rows;
- one filter keystroke at 10,000 rows (budget 50 ms);
- log ingest into the log view while keys still answer (budget >= 100,000 lines/s).
Inventories are loaded warm (the validated cache is filled first), as on a second start.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App
from textual.widgets import DataTable

from accelctl.core.inventory import load_inventory
from accelctl.core.store import JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.views.accelerators import COLUMNS, AcceleratorsView, _row
from accelctl.tui.widgets.log_view import LogView

SIZE = (160, 45)


def generated_inventory(path: Path, count: int = 10_000) -> Path:
    vendors = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]
    lines = ["accelerators:"]
    for i in range(count):
        lines.append(f"  - {{id: gen-chip-{i:05d}, name: Generated chip {i}, vendor: {vendors[i % 8]}, kind: gpu, "
                     f"year: {2015 + i % 11}, memory_gb: {16 + i % 200}, mem_bw_tbps: {1 + i % 7}, "
                     f"tflops: {{bf16: {100 + i % 900}}}, "
                     f"sources: [{{url: 'https://example.com/gen/{i}', "
                     "covers: [year, memory_gb, mem_bw_tbps, tflops]}]}")
    path.write_text("\n".join(lines) + "\n")
    return path


class FirstFrame:
    """Records when Textual's Ready event arrives: the first frame is on screen."""

    ready_at = 0.0

    def on_ready(self) -> None:
        self.ready_at = time.perf_counter()


class TimedAccelctlApp(FirstFrame, AccelctlApp):
    pass


async def first_frame(overlay: Path | None, store: JobStore) -> float:
    start = time.perf_counter()
    app = TimedAccelctlApp(load_inventory(overlay), store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return app.ready_at - start


class DataTableApp(FirstFrame, App[None]):
    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self):
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(c.label for c in COLUMNS))
        table.add_rows(self.rows)


async def datatable_frame(overlay: Path | None) -> float:
    start = time.perf_counter()
    inventory = load_inventory(overlay)
    app = DataTableApp([_row(a) for a in inventory.accelerators])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return app.ready_at - start


async def filter_keystroke(overlay: Path, store: JobStore) -> tuple[float, float]:
    """Per keystroke at 10,000 rows: the CPU to filter and repaint the whole screen, and the
    wall time the headless driver takes from the change to a settled screen."""
    app = AccelctlApp(load_inventory(overlay), store)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(AcceleratorsView)
        await pilot.press("slash")
        await pilot.pause()
        box = app.query_one("#accel-filter")
        cpu, wall = [], []
        for text in ["g", "ge", "gen", "gen-", "gen-c", "gen-ch", "gen-chi", "gen-chip", "gen-chip-0", "gen-chip-00",
                     "gen-chip-0", "gen-chip", "gen-chi", "gen-ch", "gen-c", "gen-", "gen", "ge", "g", ""]:
            start = time.perf_counter()
            box.value = text  # a keystroke: Input.Changed -> query -> rows -> repaint
            await pilot.pause()
            wall.append(time.perf_counter() - start)
            # The work itself, timed alone: the query and a full repaint of the screen.
            start_cpu = time.process_time()
            view.refilter()
            app.screen._compositor.render_update(full=True)
            cpu.append(time.process_time() - start_cpu)
        assert view.shown
        return statistics.median(cpu), statistics.median(wall)


async def log_ingest(total: int = 1_000_000, batch: int = 2_000) -> tuple[float, float]:
    class Host(App[None]):
        def compose(self):
            yield LogView()

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        lines = [f"step {i} loss 0.{i % 9973:04d}" for i in range(batch)]
        key_latencies = []
        start = time.perf_counter()
        for n in range(0, total, batch):
            view.append(lines)
            await asyncio.sleep(0)  # give the UI its turn, as a streaming worker does
            if n % 200_000 == 0:
                t = time.perf_counter()
                await pilot.press("up")  # the UI still answers keys mid-stream
                key_latencies.append(time.perf_counter() - t)
        await pilot.pause()
        elapsed = time.perf_counter() - start
        assert view.trimmed + len(view.lines) == total
        return total / elapsed, max(key_latencies)


async def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="acbench-tui-"))
    store = JobStore(root / "jobs.sqlite")
    overlay = generated_inventory(root / "ten-thousand.yaml")
    load_inventory(), load_inventory(overlay)  # warm the validated cache
    ours = statistics.median([await first_frame(None, store) for _ in range(3)])
    peer = statistics.median([await datatable_frame(None) for _ in range(3)])
    print(f"first frame, bundled inventory: accelctl {ours:.3f} s, DataTable app {peer:.3f} s, "
          f"ratio {ours / peer:.2f} (budget <= 0.6 s)")
    ours = statistics.median([await first_frame(overlay, store) for _ in range(3)])
    peer = await datatable_frame(overlay)
    print(f"first frame, 10,000 accelerators: accelctl {ours:.3f} s, DataTable app {peer:.3f} s, "
          f"ratio {ours / peer:.2f} (budget <= 1.0 s)")
    cpu, wall = await filter_keystroke(overlay, store)
    print(f"filter keystroke at 10,000 rows: {cpu * 1000:.1f} ms to filter and repaint the screen "
          f"(median, budget <= 50 ms); {wall * 1000:.0f} ms wall until the headless driver settles")
    rate, worst_key = await log_ingest()
    print(f"log view ingest: {rate:,.0f} lines/s (budget >= 100,000); slowest key mid-stream "
          f"{worst_key * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
