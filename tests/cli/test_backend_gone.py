"""The Ray head goes away mid-follow (issue 13, deliverable 2), on the local pool.

A job prints numbered lines; `accelctl logs -f` follows it and the TUI shows it; then every
process of the pool is SIGKILLed at once (a crash: nobody stops the jobs or says goodbye).

- `logs -f` exits 1 within GONE_BOUND_S (streams.GONE_AFTER_S of retries, plus slack for a
  busy 2-core machine) with the pool's error as one line, no traceback, the reconnect said
  once (not at every retry), and every line it printed once, in order;
- the job record stays; while the head is down `accelctl jobs` and the TUI show the job
  UNKNOWN (the local pool is not running, so its jobs have ended), and after `accelctl local
  start` brings a head back, UNKNOWN with "no longer knows job" (a new head has forgotten
  it), exit 0, in the table and in `-o json`;
- the TUI handles a key press within KEY_BOUND_S throughout, and its Jobs view shows the
  same state as `accelctl jobs`.

The head is killed rather than stopped with `accelctl local stop`: that one cancels the
jobs first, so `logs -f` would see its job cancelled (exit 4), not a head that is gone.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from accelctl.backends.streams import GONE_AFTER_S
from accelctl.core.jobstate import JobState
from tests.cli.localpool import (
    TICKER_SPEC,
    PoolHome,
    accelctl,
    jobs_table_messages,
    jobs_table_states,
    key_latency,
    latency_summary,
    open_jobs_view,
    start_accelctl,
    tui_app,
    until,
)

GONE_BOUND_S = GONE_AFTER_S + 10  # the head's death -> `logs -f` has exited 1
KEY_BOUND_S = 1.0  # a key press -> the TUI has handled it, whatever the pool does (see key_latency)
VIEW_BOUND_S = 15.0  # the Jobs view asks the pools every 3 s, each within 5 s

pytestmark = pytest.mark.timeout(240)


async def test_head_killed_mid_follow(home: PoolHome) -> None:
    up = await accelctl(home, "local", "start")
    assert up.code == 0, up.err
    submitted = await accelctl(home, "submit", str(home.spec("ticker", TICKER_SPEC)), "--detach")
    assert submitted.code == 0, submitted.err
    job = submitted.out.strip()

    follow = await start_accelctl(home, "logs", "-f", job)
    assert follow.stdout is not None and follow.stderr is not None
    printed: list[str] = []
    while len(printed) < 3:  # the job runs and its lines come through
        line = await asyncio.wait_for(follow.stdout.readline(), 60)
        assert line, (await follow.stderr.read()).decode()
        printed.append(line.decode())

    app = tui_app(home)
    async with app.run_test(size=(150, 40)) as pilot:
        view = await open_jobs_view(app, pilot)
        await until(lambda: jobs_table_states(app).get(job) == "RUNNING", VIEW_BOUND_S, "the TUI shows it RUNNING")

        killed_at = time.monotonic()
        assert home.crash_pool() >= 5  # head, GCS, raylet, dashboard and its agents, the job
        # Keys are pressed in the TUI the whole time `logs -f` keeps trying.
        latencies = []
        while follow.returncode is None and time.monotonic() - killed_at < GONE_BOUND_S + 5:
            latencies.append(await key_latency(app, view))
            try:
                await asyncio.wait_for(follow.wait(), 0.3)
            except TimeoutError:
                pass
        gone_after = time.monotonic() - killed_at
        rest, err = await follow.communicate()
        printed += rest.decode().splitlines(keepends=True)
        errors = err.decode().splitlines()

        assert follow.returncode == 1 and gone_after <= GONE_BOUND_S, (follow.returncode, gone_after, errors)
        assert errors[-1].startswith('accelctl: error: pool "local": Ray at http://127.0.0.1:'), errors
        assert "does not answer" in errors[-1] and "accelctl local status" in errors[-1]
        assert not any("Traceback" in e or e.startswith((" ", "\t")) for e in errors), errors
        # The outage is said once per kind of failure, not at each of the retries.
        assert sum("reconnecting" in e or "retrying" in e for e in errors) <= 3, errors
        assert printed == [f"tick {i}\n" for i in range(len(printed))], printed[-5:]

        # The record stays; with the head down, the job is UNKNOWN: the local pool ended it.
        assert home.store.get(job).id == job
        await _same_state_in_cli_and_tui(home, app, job, "the local pool is not running")
        latencies.append(await key_latency(app, view))

        started = time.monotonic()
        back = await accelctl(home, "local", "start")
        assert back.code == 0, back.err
        restart_s = time.monotonic() - started
        await _same_state_in_cli_and_tui(home, app, job, f"no longer knows job accelctl-{job}")
        latencies.append(await key_latency(app, view))

    logs = await accelctl(home, "logs", job)
    assert logs.code == 1 and len(logs.err.splitlines()) == 1 and "no longer knows job" in logs.err, logs.err
    print(f"head gone -> `logs -f` exit 1 after {gone_after:.1f} s (bound {GONE_BOUND_S:g} s); "
          f"{latency_summary(latencies)}; head back in {restart_s:.1f} s")
    assert max(lat.own for lat in latencies) <= KEY_BOUND_S, latency_summary(latencies)


async def _same_state_in_cli_and_tui(home: PoolHome, app, job: str, why: str) -> None:
    """`accelctl jobs` (table and JSON) and the TUI's Jobs view all show `job` UNKNOWN, for `why`."""
    listed = await accelctl(home, "jobs", "-o", "json")
    assert listed.code == 0, listed.err
    [entry] = [j for j in listed.json() if j["id"] == job]
    assert entry["state"] == JobState.UNKNOWN and why in entry["message"], entry
    table = await accelctl(home, "jobs")
    assert table.code == 0, table.err
    [row] = [line.split() for line in table.out.splitlines() if line.startswith(job)]
    assert row[3] == "UNKNOWN", table.out
    assert f"accelctl: {job}: state unknown: " in table.err and why in table.err, table.err
    assert "Traceback" not in listed.err + table.err
    await until(lambda: jobs_table_states(app).get(job) == "UNKNOWN" and why in jobs_table_messages(app)[job],
                VIEW_BOUND_S, f"the TUI shows {job} UNKNOWN ({why})")
