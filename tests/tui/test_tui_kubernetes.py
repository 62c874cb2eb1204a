"""The TUI over a Kubernetes pool, against the test API server (tests/kubeapi, a test double
that runs each pod's command as a local process): the Pools view probes it, the submit
dialog shows the manifests, the Jobs view shows why a job waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.widgets.virtual_table import VirtualTable
from tests.kubeapi.server import CONTEXT, KubeAPIServer

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def kube_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AccelctlApp]:
    server = KubeAPIServer().start()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"pools:\n  - {{name: kube-gpus, backend: kubernetes, context: {CONTEXT}, accelerator: L4,"
                       " count: 8, nodes: 2}\n")
    yield AccelctlApp(load_inventory(overlay, use_cache=False), JobStore(tmp_path / "jobs.sqlite"))
    server.stop()


async def test_pools_view_probes_a_kubernetes_pool(kube_app: AccelctlApp) -> None:
    async with kube_app.run_test(size=(200, 40)) as pilot:
        await pilot.press("4")
        view = kube_app.query_one("#pools-view")
        deadline = time.monotonic() + 30
        while view.reach["kube-gpus"] == "probing..." and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert view.reach["kube-gpus"] == (f"✓ context {CONTEXT}, namespace default, "
                                           "1 node(s) offer 8 nvidia.com/gpu, 8 free")


async def test_submit_dialog_shows_manifests_and_jobs_view_why_a_job_waits(kube_app: AccelctlApp,
                                                                          tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text("name: big\naccelerator: L4\ncount: 8\nnodes: 2\nimage: python:3.11-slim\n"
                    "command: [python3, -c, 'print(1)']\nresources: {cpu: 64}\n")  # no test node has 64 CPUs
    async with kube_app.run_test(size=(200, 50)) as pilot:
        await pilot.press("x")
        await pilot.pause()
        screen = kube_app.screen
        screen.query_one("#spec-path").value = str(spec)
        screen.query_one("#pool-select").value = "kube-gpus"
        await pilot.click("#plan-button")
        await pilot.pause()
        plan = str(screen.query_one("#plan").render())
        assert "manifests" in plan and "kind: Service" in plan and "nvidia.com/gpu: 8" in plan
        await pilot.press("ctrl+s")
        deadline = time.monotonic() + 60
        while not [r for r in kube_app.store.list() if "Insufficient cpu" in r.message]:
            assert time.monotonic() < deadline, [r.message for r in kube_app.store.list()]
            await asyncio.sleep(0.5)
            await pilot.pause()
        record = kube_app.store.list()[0]
        assert record.state == JobState.PENDING
        await pilot.press("escape")
        await pilot.press("5")
        await pilot.pause(1.5)
        table = kube_app.query_one("#jobs-table", VirtualTable)
        row = dict(zip(table.keys, table.rows))[record.id]
        assert row[3].startswith("PENDING") and "Insufficient cpu" in row[7]
