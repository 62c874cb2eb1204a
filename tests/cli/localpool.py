"""A user's home of their own for tests that start, crash and restart the local pool.

The session's `ray_cluster` is shared by many tests and must stay up; these tests need a pool
they may stop, kill and start again, with its own job store, reached only through the
`accelctl` command (and the TUI in the test's process).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from textual.pilot import Pilot

from accelctl.backends.local import LocalRay
from accelctl.core.inventory import load_inventory
from accelctl.core.store import JobStore
from accelctl.tui.app import AccelctlApp
from accelctl.tui.views.jobs import JobsView
from accelctl.tui.widgets.virtual_table import VirtualTable
from tests.conftest import REPO

# A spec small enough that 50 of them run side by side on 2 cores: no CPU reserved, so Ray
# starts each one as soon as it can, and the command is over at once.
TINY_SPEC = """\
name: tiny
kind: batch
accelerator: cpu
command: [sh, -c, "echo tiny-done"]
resources: {cpu: 0}
"""
# A job that keeps printing numbered lines for two minutes (a test ends it long before).
TICKER_SPEC = """\
name: ticker
kind: batch
accelerator: cpu
command: [sh, -c, "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
resources: {cpu: 0}
"""


def pool_pids(token_file: Path) -> list[int]:
    """Live processes of the pool whose token file this is, found apart from LocalRay's own
    bookkeeping: every Ray process (a job's included) inherits RAY_AUTH_TOKEN_PATH from the head."""
    marker = f"RAY_AUTH_TOKEN_PATH={token_file}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ and state != "Z":
            found.append(int(entry.name))
    return found


@dataclass
class PoolHome:
    """XDG dirs of one user (`env` points accelctl at them) and where their local pool lives."""

    root: Path
    env: dict[str, str]

    @property
    def local(self) -> LocalRay:
        return LocalRay(state_file=self.root / "state" / "accelctl" / "local-pool.json",
                        temp_dir=self.root / "cache" / "accelctl" / "ray")

    @property
    def store(self) -> JobStore:
        return JobStore(self.root / "state" / "accelctl" / "jobs.sqlite")

    def spec(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text)
        return path

    def pool_pids(self) -> list[int]:
        """Live processes of this pool, the jobs' included."""
        return pool_pids(self.local.token_file)

    def crash_pool(self) -> int:
        """SIGKILL every process of the pool at once, as a crash or the OOM killer would;
        returns how many there were. Only this home's processes carry its token path."""
        pids = self.pool_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pool_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(pids)


@contextmanager
def pool_home(prefix: str) -> Iterator[PoolHome]:
    """A fresh PoolHome; whatever pool it started is stopped and its files removed after."""
    # Ray's Unix socket paths must stay short: keep the root near /tmp's root (mkdtemp: 0700).
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    env = {"XDG_STATE_HOME": str(root / "state"), "XDG_CACHE_HOME": str(root / "cache"),
           "XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data")}
    home = PoolHome(root, env)
    # Else LocalRay falls back to a temp dir shared by every test of this user.
    assert len(str(home.local.temp_dir)) <= 38, home.local.temp_dir
    try:
        yield home
    finally:
        home.local.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Ran:
    """A finished `accelctl` command."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> object:
        return json.loads(self.out)


async def start_accelctl(home: PoolHome, *args: str) -> asyncio.subprocess.Process:
    """`accelctl ARGS` in a fresh interpreter as `home`'s user, without blocking the event loop
    (a TUI under test shares it)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "accelctl.cli.main", *args, cwd=REPO, env=_env(home),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def accelctl(home: PoolHome, *args: str, timeout: float = 120) -> Ran:
    """Run `accelctl ARGS` to its end (see start_accelctl)."""
    started = time.monotonic()
    proc = await start_accelctl(home, *args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"accelctl {' '.join(args)} still ran after {timeout:g} s") from None
    assert proc.returncode is not None
    return Ran(args, proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


# Starts every command given (JSON on stdin: a list of argument lists) at once, as a shell
# loop with `&` would, waits for all, and prints what each did as JSON.
_MANY = """
import json, subprocess, sys, time
commands = json.load(sys.stdin)
started = time.monotonic()
procs = [subprocess.Popen([sys.executable, "-m", "accelctl.cli.main", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
done = []
for proc in procs:
    out, err = proc.communicate()
    done.append([proc.returncode, out.decode(), err.decode(), time.monotonic() - started])
json.dump(done, sys.stdout)
"""


async def accelctl_many(home: PoolHome, commands: list[tuple[str, ...]], timeout: float = 300) -> list[Ran]:
    """Run every `accelctl ARGS` of `commands` at once, from a driver process of its own: the
    forks and pipes of fifty processes are not this process's work (a TUI under test shares
    its event loop). `seconds` of each: from the start of all until that one had ended."""
    driver = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _MANY, cwd=REPO, env=_env(home), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(driver.communicate(json.dumps(commands).encode()), timeout)
    except TimeoutError:
        driver.kill()
        await driver.wait()
        raise AssertionError(f"{len(commands)} accelctl commands still ran after {timeout:g} s") from None
    assert driver.returncode == 0, err.decode()
    return [Ran(tuple(args), code, stdout, stderr, seconds)
            for args, (code, stdout, stderr, seconds) in zip(commands, json.loads(out))]


def _env(home: PoolHome) -> dict[str, str]:
    """The environment of `home`'s user: this one, without what would point accelctl elsewhere."""
    env = {k: v for k, v in os.environ.items() if k not in ("ACCELCTL_INVENTORY", "RAY_ADDRESS")}
    return {**env, **home.env}


async def until(check: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> float:
    """Wait (without blocking the event loop) until `check()` is true; the seconds it took.
    Fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(every)
    return time.monotonic() - started


# --- the TUI, in this process, as `home`'s user -------------------------------------------

def tui_app(home: PoolHome) -> AccelctlApp:
    """The TUI on `home`'s store (the test has pointed the XDG variables at `home` too, so
    that the app's backends find its local pool)."""
    return AccelctlApp(load_inventory(), home.store)


async def open_jobs_view(app: AccelctlApp, pilot: Pilot) -> JobsView:
    await pilot.press("5")
    await pilot.pause()
    return app.query_one(JobsView)


def jobs_table_states(app: AccelctlApp) -> dict[str, str]:
    """Job id -> the STATE cell of the Jobs view, as shown."""
    table = app.query_one("#jobs-table", VirtualTable)
    return {key: row[3] for key, row in zip(table.keys, table.rows)}


def jobs_table_messages(app: AccelctlApp) -> dict[str, str]:
    """Job id -> the MESSAGE cell of the Jobs view."""
    table = app.query_one("#jobs-table", VirtualTable)
    return {key: row[7] for key, row in zip(table.keys, table.rows)}


class Latency(NamedTuple):
    """How long a key press took to be handled: `wall` in all, of which `cpu_wait` the TUI's
    thread was ready to run but the kernel gave every CPU to other processes."""

    wall: float
    cpu_wait: float

    @property
    def own(self) -> float:
        """The TUI's part: running, or blocked on something of its own (a lock, a socket)."""
        return self.wall - self.cpu_wait


def _cpu_wait_s() -> float:
    """Seconds the calling thread has spent runnable but not running (Linux schedstat; 0 where
    the kernel does not keep it)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def key_latency(app: AccelctlApp, view: JobsView, timeout: float = 60) -> Latency:
    """A press of `a` (all/active) in the Jobs view until the view has switched, measured twice
    (so the view ends as it began); the slower of the two.

    The key goes in as the terminal driver would put it (`App.simulate_key`), not through
    `Pilot.press`: that one also waits until every widget is idle and animations are over,
    which measures the waiting, not the key. The wait for a CPU is measured apart: fifty
    Python processes starting at once on 2 cores leave any one of them a few percent of a
    CPU, the TUI included, whatever the TUI does; what the TUI must bound is the rest."""
    slowest = Latency(0.0, 0.0)
    for _ in range(2):
        before = view.show_all
        started, waited = time.monotonic(), _cpu_wait_s()
        app.simulate_key("a")
        await until(lambda b=before: view.show_all != b, timeout, "the Jobs view handling `a`", every=0.005)
        took = Latency(time.monotonic() - started, _cpu_wait_s() - waited)
        slowest = max(slowest, took, key=lambda latency: latency.own)
    return slowest


def latency_summary(latencies: list[Latency]) -> str:
    worst = max(latencies, key=lambda latency: latency.own)
    return (f"TUI key press: slowest {worst.own * 1000:.0f} ms of its own ({worst.wall * 1000:.0f} ms wall), "
            f"slowest wall {max(lat.wall for lat in latencies) * 1000:.0f} ms, over {len(latencies)} presses")
