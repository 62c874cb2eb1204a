"""One contract suite, run over every backend: the fake and real Ray today.

A new backend joins by adding a harness to HARNESSES: something that starts a job
whose output and exit code the test chooses. The assertions stay the same: exact
output in order, state mapping, exit codes through the CLI's follow, cancel that
records CANCELLED only once the job stopped, targets that reach the job again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accelctl.backends import BACKENDS, streams
from accelctl.backends.base import Backend, LogBatch
from accelctl.backends.jobs import cancel_job
from accelctl.core.jobspec import JobSpec
from accelctl.core.jobstate import JobState
from accelctl.core.placement import Placement
from accelctl.core.pools import LocalPool
from accelctl.core.store import JobRecord, default_store, new_job_id
from accelctl.errors import AccelctlError
from tests.backends.fake import Faults, Script, fake_backend
from tests.backends.harness_k8s import kubernetes_harness
from tests.backends.harness_ssh import ssh_harness

pytestmark = pytest.mark.timeout(300)

# Numbered lines, one long line, a last line without a newline. (No "\r": Ray's log API
# serves it as a line break; the fake checks "\r" on its own.)
OUTPUT = "".join(f"line {i:05d}\n" for i in range(20000)) + "y" * 300_000 + "\nthe end, no newline"
_PLACEMENT = Placement(LocalPool(name="contract", accelerator="cpu"), "cpu", 1, 1)


class FakeHarness:
    """Jobs on the in-memory fake backend."""

    name = "fake"

    def __init__(self, tmp_path: Path) -> None:
        self.backend = fake_backend()

    async def start(self, output: str, exit_code: int = 0, slow: bool = False) -> str:
        name = f"job-{new_job_id()}"
        self.backend.scripts[name] = Script(output, exit_code, chunk=512 if slow else 64 * 1024,
                                            delay=0.05 if slow else 0.0)
        return await self.backend.submit(JobSpec(name=name, command="fake"), _PLACEMENT, new_job_id())


class RayHarness:
    """Jobs on the test run's real Ray head, each a Python script that writes the output."""

    name = "ray"

    def __init__(self, tmp_path: Path, cluster: Any) -> None:
        from accelctl.backends.ray import RayBackend

        self.tmp_path = tmp_path
        self.backend = RayBackend("contract", cluster.address, token_file=str(cluster.token_file))

    async def start(self, output: str, exit_code: int = 0, slow: bool = False) -> str:
        work = self.tmp_path / new_job_id()
        work.mkdir()
        (work / "out.txt").write_text(output)
        pause = "0.05" if slow else "0"
        (work / "emit.py").write_text(
            "import sys, time\n"
            "text = open('out.txt').read()\n"
            "for i in range(0, len(text), 512 if " + pause + " else 65536):\n"
            "    sys.stdout.write(text[i:i + (512 if " + pause + " else 65536)]); sys.stdout.flush()\n"
            f"    time.sleep({pause})\n"
            f"sys.exit({exit_code})\n")
        spec = JobSpec(name="contract", command="python3 emit.py", workdir=str(work))
        return await self.backend.submit(spec, _PLACEMENT, new_job_id())


def _fake(request: pytest.FixtureRequest, tmp_path: Path) -> FakeHarness:
    # One registry line, as for any backend, so stored jobs find it again.
    request.getfixturevalue("monkeypatch").setitem(BACKENDS, "fake", "tests.backends.fake:FakeBackend")
    return FakeHarness(tmp_path)


def _ray(request: pytest.FixtureRequest, tmp_path: Path) -> RayHarness:
    return RayHarness(tmp_path, request.getfixturevalue("ray_cluster"))


# Backend name -> harness factory. A new backend adds one line here: a factory (kept in its
# own test module) returning an object with `name`, `backend` and `async start(output,
# exit_code=0, slow=False) -> backend_id`.
HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path], Any]] = {
    "fake": _fake,
    "ray": _ray,
    "ssh": ssh_harness,
    "kubernetes": kubernetes_harness,
}


@pytest.fixture(params=list(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return HARNESSES[request.param](request, tmp_path)


async def read_all(backend: Backend, backend_id: str, **kwargs: Any) -> tuple[str, list[LogBatch]]:
    batches = [b async for b in backend.logs(backend_id, **kwargs)]
    return "".join(b.text for b in batches), batches


async def wait_for(backend: Backend, backend_id: str, *states: JobState, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (await backend.status(backend_id)).state not in states:
        assert time.monotonic() < deadline, f"job never reached {states}"
        await asyncio.sleep(0.1)


def record_for(backend: Backend, backend_id: str) -> JobRecord:
    record = JobRecord(new_job_id(), "contract", backend.pool_name, backend.kind, backend_id, backend.target,
                       {}, JobState.PENDING, time.time())
    default_store().add(record)
    return record


async def test_following_gives_the_exact_output(harness: Any) -> None:
    backend_id = await harness.start(OUTPUT, slow=False)
    text, batches = await read_all(harness.backend, backend_id, follow=True)
    assert text == OUTPUT
    assert batches[-1].partial and batches[-1].lines == ["the end, no newline"]
    assert (await harness.backend.status(backend_id)).state == JobState.SUCCEEDED


async def test_a_snapshot_resumes_exactly_where_it_left_off(harness: Any) -> None:
    backend_id = await harness.start(OUTPUT)
    await wait_for(harness.backend, backend_id, JobState.SUCCEEDED)
    text, batches = await read_all(harness.backend, backend_id, follow=False)
    assert text == OUTPUT
    first = batches[0]
    rest, _ = await read_all(harness.backend, backend_id, follow=False, since=first.resume_at)
    assert first.text + rest == OUTPUT


async def test_exit_codes_and_states_through_the_cli(harness: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from accelctl.cli.jobs import _follow

    ok = await harness.start("fine\n")
    bad = await harness.start("about to fail\n", exit_code=7)
    assert await _follow(record_for(harness.backend, ok), harness.backend) == 0
    failed = record_for(harness.backend, bad)
    assert await _follow(failed, harness.backend) == 3
    assert capsys.readouterr().out == "fine\nabout to fail\n"
    stored = default_store().get(failed.id)
    assert (stored.state, stored.exit_code) == (JobState.FAILED, 7) and stored.ended_at


async def test_cancel_records_cancelled_once_the_job_stopped(harness: Any) -> None:
    from accelctl.cli.jobs import _follow

    backend_id = await harness.start("".join(f"{i}\n" for i in range(100000)), slow=True)
    await wait_for(harness.backend, backend_id, JobState.RUNNING)
    record = record_for(harness.backend, backend_id)
    status = await cancel_job(default_store(), record)
    assert status.state == JobState.CANCELLED
    assert default_store().get(record.id).state == JobState.CANCELLED
    assert await _follow(record, harness.backend) == 4


async def test_the_target_reaches_the_job_again(harness: Any) -> None:
    backend_id = await harness.start("hello\n")
    await wait_for(harness.backend, backend_id, JobState.SUCCEEDED)
    again = type(harness.backend).from_target(harness.backend.pool_name, harness.backend.target)
    assert (await again.status(backend_id)).state == JobState.SUCCEEDED
    assert (await read_all(again, backend_id, follow=False))[0] == "hello\n"
    assert (await again.probe()).ok


async def test_an_unknown_job_is_an_error_not_a_crash(harness: Any) -> None:
    with pytest.raises(AccelctlError):
        await harness.backend.status("no-such-job-1234")


# --- faults only the fake can inject today (the proxy for real backends comes with the fault suite) ---

@pytest.mark.parametrize("replay", [False, True])
async def test_drops_closes_and_replays_lose_and_repeat_nothing(replay: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.01,))
    seed = random.randrange(2**32)
    print(f"fault seed: {seed}")  # shown on failure, to replay it
    rng = random.Random(seed)
    output = OUTPUT + "\rprogress\r100%\n" + "z" * 70_000 + "\n" + "tail"
    cuts = rng.sample(range(1, len(output)), 25)
    backend = fake_backend(Faults(drops=sorted(cuts[:20]), closes=sorted(cuts[20:]), replay=replay))
    backend.scripts["faulty"] = Script(output, chunk=8192, delay=0.001, end_after_faults=True)
    backend_id = await backend.submit(JobSpec(name="faulty", command="fake"), _PLACEMENT, "faulty1")
    notices: list[str] = []

    def notice(message: str, *, reconnect: bool = False) -> None:
        if reconnect:
            notices.append(message)

    text, _ = await read_all(backend, backend_id, follow=True, notice=notice)
    assert text == output
    assert len([n for n in notices if n.startswith("log stream dropped")]) == 20
    assert len([n for n in notices if n.startswith("log stream closed while the job is running")]) == 5
    assert len(notices) == 25 and backend.cluster.connections == 26 + 1  # 26 live streams, 1 final snapshot
