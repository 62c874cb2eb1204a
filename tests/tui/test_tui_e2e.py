"""End to end: submit jobs/hello.yaml from the TUI to the real local pool and watch it;
and a smoke test of the installed `accelctl` in a real terminal (tmux)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.store import default_store
from accelctl.tui.app import AccelctlApp
from accelctl.tui.screens.logs import LogScreen
from accelctl.tui.widgets.log_view import LogView
from tests.conftest import REPO, RayCluster

pytestmark = pytest.mark.timeout(300)


async def test_submit_hello_from_the_tui_and_watch_it(ray_env: RayCluster) -> None:
    app = AccelctlApp(load_inventory(os.environ["ACCELCTL_INVENTORY"]), default_store())
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#spec-path").value = str(REPO / "jobs" / "hello.yaml")
        await pilot.press("ctrl+s")
        deadline = time.monotonic() + 120
        while not isinstance(app.screen, LogScreen) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        screen = app.screen
        assert isinstance(screen, LogScreen) and screen.record.pool == "local"
        view = screen.query_one(LogView)
        while screen.state != "SUCCEEDED" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert screen.state == "SUCCEEDED"
        assert view.lines[3:] == [f"count {i}" for i in range(1, 6)] and view.lines[0].startswith("host: ")
        assert default_store().get(screen.record.id).state == "SUCCEEDED"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_accelctl_runs_in_a_real_terminal(tmp_path) -> None:
    session = f"accelctl-smoke-{os.getpid()}"
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m accelctl"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command], env=env,
                   check=True)
    try:
        screen = ""
        deadline = time.monotonic() + 30
        while "nvidia-h100-sxm" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True,
                                    text=True).stdout
        assert "Accelerators" in screen and "nvidia-h100-sxm" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "3"], check=True)
        time.sleep(1)
        screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True, text=True).stdout
        assert "DATE" in screen and "SITE" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
            if not alive:
                break
            time.sleep(0.3)
        assert not alive, "q did not quit"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
