"""Upgrades: what earlier releases wrote is read by this one.

tests/data/upgrade/<release>/ holds the config, state and cache dirs that release's own code
wrote (tests/data/upgrade/make_fixtures.py, run at that release's commit): its job store (the
first one is schema 0), kept job output, inventory cache and SSH probe cache. Each test copies
one release's dirs into fresh XDG dirs and runs this release's CLI on them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from accelctl.backends import ssh_probe
from accelctl.core.store import SCHEMA_VERSION
from tests.conftest import REPO, run_accelctl

UPGRADE = REPO / "tests" / "data" / "upgrade"
RELEASES = sorted(p.name for p in UPGRADE.iterdir() if p.is_dir())
# The ids and states the fixtures hold (make_fixtures.py): one job in each state.
STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN"]
FIRST_ID = {"schema0-15dcf00": 0, "release-a8c37e7": 10_000_000}


@pytest.fixture(params=RELEASES)
def release(request: pytest.FixtureRequest, isolated_dirs: Path) -> str:
    """This test's XDG dirs, filled with what the release wrote."""
    for part in ("config", "state", "cache"):
        source = UPGRADE / request.param / part
        if source.exists():
            shutil.copytree(source, Path(os.environ[f"XDG_{part.upper()}_HOME"]), dirs_exist_ok=True)
    return str(request.param)


def store_path() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "accelctl" / "jobs.sqlite"


def test_fixtures_are_there() -> None:
    assert RELEASES == ["release-a8c37e7", "schema0-15dcf00"]


def test_the_job_store_is_read_and_migrated(release: str) -> None:
    done = run_accelctl("jobs", "--all", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    jobs = {j["id"]: j for j in json.loads(done.stdout)}
    first = FIRST_ID[release]
    assert set(jobs) == {f"{first + i:08d}" for i in range(len(STATES))}
    for i, state in enumerate(STATES):
        job = jobs[f"{first + i:08d}"]
        assert job["name"] == f"job-{state.lower()}"
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):  # finished: kept as they were
            assert (job["state"], job["exit_code"]) == (state, 0 if state == "SUCCEEDED" else 1)
        else:  # unfinished: their pools are gone, so the state may be found unknown; never a crash
            assert job["state"] in (state, "UNKNOWN")
    with sqlite3.connect(store_path()) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert run_accelctl("jobs", "--prune").returncode == 0
    left = json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)
    assert {j["state"] for j in left} <= {"PENDING", "RUNNING"}  # finished and lost jobs forgotten


def test_kept_output_is_read() -> None:
    for part in ("state", "cache"):
        shutil.copytree(UPGRADE / "release-a8c37e7" / part, Path(os.environ[f"XDG_{part.upper()}_HOME"]),
                        dirs_exist_ok=True)
    done = run_accelctl("logs", "10000002")
    assert done.returncode == 0, done.stderr
    expected = "".join(f"step {n} loss {1 / (n + 1):.4f}\n" for n in range(1000)) + "done, no newline"
    assert done.stdout.rstrip("\n") == expected


def test_an_old_inventory_cache_changes_nothing(release: str) -> None:
    """The old cache files stay unread (their key names other code); output is as with none."""
    with_old = run_accelctl("ls", "-o", "json")
    old = {p.name for p in (Path(os.environ["XDG_CACHE_HOME"]) / "accelctl").glob("inventory-*.pickle")}
    assert with_old.returncode == 0, with_old.stderr
    shutil.rmtree(Path(os.environ["XDG_CACHE_HOME"]) / "accelctl")
    fresh = run_accelctl("ls", "-o", "json")
    assert with_old.stdout == fresh.stdout and old


def test_an_old_ssh_probe_cache_is_read() -> None:
    shutil.copytree(UPGRADE / "release-a8c37e7" / "cache", Path(os.environ["XDG_CACHE_HOME"]), dirs_exist_ok=True)
    assert run_accelctl("pools").returncode == 0
    probed = ssh_probe.load("ssh-lab")
    assert probed is not None
    assert ssh_probe.summary(probed[1]) == ("gpu1: 2x nvidia-rtx-4090 23.6 GiB (driver 550.54.15); "
                                            "gpu2: no answer within 5 s")


def test_a_damaged_ssh_probe_cache_is_ignored() -> None:
    path = ssh_probe.cache_file("ssh-lab")
    path.parent.mkdir(parents=True)
    path.write_text('{"time": 1, "hosts": [{"host": "h", "ok": true, "error": "", "devices": '
                    '[{"name": "x", "id": 2, "count": 2.5, "memory_gib": "big", "driver": null}]}]}')
    assert ssh_probe.load("ssh-lab") is None
    assert run_accelctl("pools").returncode == 0
