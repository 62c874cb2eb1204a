"""The TUI over an SSH pool on the test run's two real sshd (tests/backends/sshd.py): the Pools
view shows the pool's cached probe and probes it with `p` in a worker (a host that does not
answer is shown as such, and the app keeps answering keys meanwhile); the log screen of a
two-host job shows each rank's lines with its `[rank] ` prefix."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accelctl.backends import ssh_conn, ssh_probe
from accelctl.backends.ssh import SshBackend
from accelctl.backends.ssh_conn import SshSettings
from accelctl.core.inventory import load_inventory
from accelctl.core.jobspec import JobSpec
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore, new_job_id
from accelctl.tui.app import AccelctlApp
from accelctl.tui.screens.logs import LogScreen
from accelctl.tui.views.pools import PoolsView
from accelctl.tui.widgets.log_view import LogView
from accelctl.tui.widgets.virtual_table import VirtualTable
from tests.backends.harness_ssh import placement
from tests.backends.sshd import Lab, lab

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def the_lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # the test key only
    return lab(request.config)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word (a host that hangs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@pytest.fixture
def ssh_app(the_lab: Lab, tmp_path: Path, silent_port: int) -> AccelctlApp:
    config = tmp_path / "ssh_config"
    config.write_text(the_lab.ssh_config.read_text() +
                      f"Host silent\n  HostName 127.0.0.1\n  Port {silent_port}\n  User root\n"
                      f"  IdentityFile {the_lab.key}\n")
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"""pools:
- name: lab
  backend: ssh
  hosts: [lab0, lab1, down, silent]
  accelerator: H100
  count: 2
  ssh_config: {config}
  known_hosts: {the_lab.known_hosts}
""")
    return AccelctlApp(load_inventory(overlay, use_cache=False), JobStore(tmp_path / "jobs.sqlite"))


async def _select_pool(app: AccelctlApp, pilot, name: str) -> PoolsView:  # type: ignore[no-untyped-def]
    await pilot.press("4")
    await pilot.pause()
    table = app.query_one("#pools-table", VirtualTable)
    table.cursor = table.keys.index(name)
    await pilot.pause()
    return app.query_one(PoolsView)


def _detail(app: AccelctlApp) -> str:
    return str(app.query_one("#pool-detail").render())


async def test_pools_view_shows_the_cached_probe(ssh_app: AccelctlApp) -> None:
    ssh_probe.save("lab", [ssh_probe.HostProbe("lab0", True, [ssh_probe.Device("NVIDIA H100 80GB HBM3",
                                                                                "nvidia-h100-sxm", 2, 79.6,
                                                                                "550.54.15")]),
                           ssh_probe.HostProbe("lab1", False, error="cannot reach lab1: connection refused")])
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ssh_probe.load("lab")[0]))  # type: ignore[index]
    async with ssh_app.run_test(size=(160, 40)) as pilot:
        await _select_pool(ssh_app, pilot, "lab")
        await pilot.pause(0.3)
        detail = _detail(ssh_app)
        assert f"probed {when}" in detail
        assert "✓ lab0: 2x nvidia-h100-sxm 79.6 GiB (driver 550.54.15)" in detail
        assert "✗ lab1: no answer: cannot reach lab1: connection refused" in detail


async def test_p_probes_the_hosts_in_a_worker(ssh_app: AccelctlApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh_conn, "CONNECT_TIMEOUT_S", 3.0)  # `silent` answers nothing: give up sooner
    async with ssh_app.run_test(size=(160, 40)) as pilot:
        view = await _select_pool(ssh_app, pilot, "lab")
        assert "hosts not probed yet" in _detail(ssh_app)
        started = time.monotonic()
        await pilot.press("p")
        await pilot.pause()
        assert view.probing["lab"] == "probing hosts..." and "probing hosts..." in _detail(ssh_app)
        # While `silent` keeps the probe waiting, the app answers keys at once.
        await pilot.press("5")
        assert ssh_app.query_one("TabbedContent").active == "jobs"
        await pilot.press("4")
        assert time.monotonic() - started < 2.5 and view.probing.get("lab") == "probing hosts..."
        while view.probing.get("lab"):
            assert time.monotonic() - started < 30, _detail(ssh_app)
            await pilot.pause(0.2)
        detail = _detail(ssh_app)
        assert "✓ lab0: 2x nvidia-h100-sxm 79.6 GiB (driver 550.54.15)" in detail
        assert "✓ lab1: 16x aws-trainium2 96 GiB" in detail
        assert "✗ down: no answer: cannot reach down" in detail
        assert "✗ silent: no answer: cannot reach silent" in detail
        assert ssh_probe.load("lab") is not None  # kept for `accelctl pools` and the next start

        await pilot.press("up")  # a pool of another kind: p says what it is for
        await pilot.press("p")
        await pilot.pause()
        assert "probing hosts..." not in _detail(ssh_app) and not view.probing


async def test_two_host_job_logs_show_rank_prefixes(ssh_app: AccelctlApp, the_lab: Lab, tmp_path: Path) -> None:
    backend = SshBackend("lab", ("lab0", "lab1"), SshSettings(ssh_config=str(the_lab.ssh_config),
                                                               known_hosts=str(the_lab.known_hosts)),
                         workdir=str(tmp_path / "remote"))
    job_id = new_job_id()
    spec = JobSpec(name="two", command='for i in 1 2 3; do echo "line $i of rank $ACCELCTL_NODE_RANK"; done')
    backend_id = await backend.submit(spec, placement(2), job_id)
    await asyncio.to_thread(backend.connections.close)
    ssh_app.store.add(JobRecord(job_id, "two", "lab", "ssh", backend_id, backend.target, {}, JobState.PENDING,
                                time.time()))
    async with ssh_app.run_test(size=(160, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = ssh_app.query_one("#jobs-table", VirtualTable)
        assert table.keys == [job_id]
        await pilot.press("l")
        await pilot.pause()
        screen = ssh_app.screen
        assert isinstance(screen, LogScreen)
        log = screen.query_one(LogView)
        deadline = time.monotonic() + 30
        while len(log.lines) < 6 or not screen.state.terminal:
            assert time.monotonic() < deadline, (log.lines, screen.state)
            await pilot.pause(0.2)
        assert sorted(log.lines) == sorted(f"[{rank}] line {i} of rank {rank}" for rank in (0, 1) for i in (1, 2, 3))
        assert [line for line in log.lines if line.startswith("[1]")] == [f"[1] line {i} of rank 1" for i in (1, 2, 3)]
        assert screen.state == JobState.SUCCEEDED
        await pilot.press("escape")
        await pilot.pause(1.5)
        row = dict(zip(table.keys, table.rows))[job_id]
        assert row[3].startswith("SUCCEEDED")


async def test_a_host_key_trusted_on_first_use_is_a_notification(the_lab: Lab, tmp_path: Path) -> None:
    """`accept-new` says so on stderr in the CLI; the TUI hides stderr, so it tells in a notification."""
    known = tmp_path / "known_hosts"
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"pools:\n- name: fresh\n  backend: ssh\n  hosts: [lab0]\n  accelerator: cpu\n"
                       f"  host_key_policy: accept-new\n  ssh_config: {the_lab.ssh_config}\n"
                       f"  known_hosts: {known}\n")
    app = AccelctlApp(load_inventory(overlay, use_cache=False), JobStore(tmp_path / "jobs.sqlite"))
    async with app.run_test(size=(160, 40)) as pilot:
        await _select_pool(app, pilot, "fresh")
        deadline = time.monotonic() + 20
        while not [n for n in app._notifications if "trusted host lab0" in n.message]:
            assert time.monotonic() < deadline
            await pilot.pause(0.2)
    assert ssh_conn.tell is ssh_conn.to_stderr  # stderr again once the app is gone
    assert known.read_text().strip() == the_lab.known_line(0)
