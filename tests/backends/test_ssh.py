"""The ssh backend against two real sshd on 127.0.0.1 (tests/backends/sshd.py): multi-host
jobs with rank prefixes, detached processes that outlive their connection, exact resume
after a cut connection, cancel on every host, timeout, re-attach from a fresh process."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from accelctl.backends.base import Backend, JobState, LogBatch
from accelctl.backends.ssh import SshBackend
from accelctl.backends.ssh_logs import pack, unpack
from accelctl.core.jobspec import JobSpec
from accelctl.core.store import default_store, new_job_id
from tests.backends.harness_ssh import placement, ssh_backend
from tests.backends.sshd import Lab, lab
from tests.conftest import run_accelctl

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def the_lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # the lab's key only, never an agent's
    return lab(request.config)


@pytest.fixture
def two_hosts(the_lab: Lab, tmp_path: Path) -> SshBackend:
    return ssh_backend(the_lab, tmp_path, ("lab0", "lab1"))


async def read_all(backend: Backend, backend_id: str, **kwargs: Any) -> tuple[str, list[LogBatch]]:
    batches = [b async for b in backend.logs(backend_id, **kwargs)]
    return "".join(b.text for b in batches), batches


async def wait_for(backend: Backend, backend_id: str, *states: JobState, timeout: float = 60) -> JobState:
    deadline = time.monotonic() + timeout
    while (state := (await backend.status(backend_id)).state) not in states:
        assert time.monotonic() < deadline, f"job never reached {states} (is {state})"
        await asyncio.sleep(0.1)
    return state


def spec(command: str, **kwargs: Any) -> JobSpec:
    return JobSpec(name="ssh-test", command=command, **kwargs)


def test_positions_pack_each_hosts_offset() -> None:
    assert unpack(pack([5, 2**40, 0]), 3) == [5, 2**40, 0]
    assert pack([123]) == 123  # one host: the position is the byte offset


async def test_two_hosts_run_one_rank_each_with_prefixed_lines(two_hosts: SshBackend) -> None:
    command = 'echo "rank=$ACCELCTL_NODE_RANK of $ACCELCTL_NUM_NODES at $MASTER_ADDR:$MASTER_PORT ' \
              'torchrun=$PET_NODE_RANK/$PET_NNODES"; for i in 1 2 3; do echo "line $i"; done'
    backend_id = await two_hosts.submit(spec(command), placement(2), new_job_id())
    text, _ = await read_all(two_hosts, backend_id, follow=True)
    for rank in (0, 1):
        mine = [line for line in text.splitlines() if line.startswith(f"[{rank}] ")]
        assert mine == [f"[{rank}] rank={rank} of 2 at 127.0.0.1:29500 torchrun={rank}/2",
                        f"[{rank}] line 1", f"[{rank}] line 2", f"[{rank}] line 3"]
    assert (await two_hosts.status(backend_id)).state == JobState.SUCCEEDED


async def test_a_multi_host_log_resumes_from_its_packed_position(two_hosts: SshBackend) -> None:
    backend_id = await two_hosts.submit(spec('for i in $(seq 1 1000); do echo "n$i"; done; printf tail'),
                                        placement(2), new_job_id())
    await wait_for(two_hosts, backend_id, JobState.SUCCEEDED)
    whole, batches = await read_all(two_hosts, backend_id, follow=False)
    assert whole.count("\n") == 2002  # 1000 lines and the unfinished "tail" of each rank
    middle = batches[0]
    rest, _ = await read_all(two_hosts, backend_id, follow=False, since=middle.resume_at)
    assert sorted((middle.text + rest).splitlines()) == sorted(whole.splitlines())


async def test_a_failing_rank_fails_the_job_with_its_exit_code(two_hosts: SshBackend) -> None:
    backend_id = await two_hosts.submit(spec('[ "$ACCELCTL_NODE_RANK" = 1 ] && exit 5; echo ok'),
                                        placement(2), new_job_id())
    await wait_for(two_hosts, backend_id, JobState.FAILED)
    status = await two_hosts.status(backend_id)
    assert status.exit_code == 5 and status.message.startswith("rank 1: exit 5")


async def test_a_cut_connection_resumes_exactly_and_the_job_survives(the_lab: Lab, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from accelctl.backends import streams

    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    backend = ssh_backend(the_lab, tmp_path)
    # 200,000 numbered lines, written over about two seconds so that the cut lands mid-stream.
    command = "python3 -c 'import sys, time\nfor i in range(200000):\n" \
              "    sys.stdout.write(\"%06d\\n\" % i)\n    if i % 10000 == 0: sys.stdout.flush(); time.sleep(0.1)\n'"
    backend_id = await backend.submit(spec(command), placement(), new_job_id())
    notices: list[str] = []
    lines: list[str] = []
    cuts = 0

    def notice(message: str, *, reconnect: bool = False) -> None:
        notices.append(message)

    async for batch in backend.logs(backend_id, follow=True, notice=notice):
        lines.extend(batch.lines)
        if cuts < 3 and len(lines) > 30000 * (cuts + 1):
            cuts += 1
            assert the_lab.servers[0].cut_connections() >= 1
    assert cuts == 3
    assert lines == [f"{i:06d}" for i in range(200000)]
    assert sum("dropped" in n or "resuming" in n for n in notices) >= 3, notices
    assert (await backend.status(backend_id)).state == JobState.SUCCEEDED  # it ran on through the cuts


async def test_cancel_stops_every_host(two_hosts: SshBackend, tmp_path: Path) -> None:
    # A child process too: cancel ends the job's whole session, not just its shell.
    backend_id = await two_hosts.submit(spec("sleep 300 & echo started; wait"), placement(2), new_job_id())
    await wait_for(two_hosts, backend_id, JobState.RUNNING)
    pids = []
    for rank in (0, 1):
        job = tmp_path / "remote" / backend_id / str(rank)
        deadline = time.monotonic() + 10
        while not (job / "pid").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        pids.append(int((job / "pid").read_text()))
    assert await two_hosts.cancel(backend_id) is True
    assert await wait_for(two_hosts, backend_id, JobState.CANCELLED, timeout=20) == JobState.CANCELLED
    sessions = {int(stat.read_text().rsplit(")", 1)[1].split()[3]) for stat in Path("/proc").glob("[0-9]*/stat")
                if stat.exists() and ")" in _read(stat)}
    assert not sessions & set(pids), "a process of the job is still alive"
    assert await two_hosts.cancel(backend_id) is False  # already over


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


async def test_the_timeout_is_enforced_on_the_host(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path)
    started = time.monotonic()
    backend_id = await backend.submit(spec("echo begin; sleep 60", timeout="1s"), placement(), new_job_id())
    await wait_for(backend, backend_id, JobState.FAILED, timeout=30)
    status = await backend.status(backend_id)
    assert status.exit_code == 124 and "timed out" in status.message
    assert time.monotonic() - started < 15


async def test_a_rebooted_host_reads_as_lost_not_running(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path)
    backend_id = await backend.submit(spec("sleep 60"), placement(), new_job_id())
    await wait_for(backend, backend_id, JobState.RUNNING)
    (tmp_path / "remote" / backend_id / "0" / "boot").write_text("an-earlier-boot\n")  # as after a reboot
    status = await backend.status(backend_id)
    assert (status.state, status.exit_code) == (JobState.FAILED, None) and "rebooted" in status.message
    await backend.cancel(backend_id)


async def test_a_command_not_found_fails_with_127(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path)
    backend_id = await backend.submit(spec("no-such-command-here --x"), placement(), new_job_id())
    await wait_for(backend, backend_id, JobState.FAILED)
    status = await backend.status(backend_id)
    assert status.exit_code == 127 and "command not found" in status.message
    assert "not found" in (await read_all(backend, backend_id, follow=False))[0]


async def test_utf8_and_carriage_returns_come_through_by_byte_offsets(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path)
    backend_id = await backend.submit(spec("printf 'grüße 世界\\nprogress 1\\rprogress 2\\nend'"), placement(),
                                      new_job_id())
    text, batches = await read_all(backend, backend_id, follow=True)
    assert text == "grüße 世界\nprogress 1\rprogress 2\nend"
    assert batches[-1].resume_at == len("grüße 世界\nprogress 1\rprogress 2\n".encode())


def test_a_fresh_process_reattaches_through_the_stored_target(the_lab: Lab, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Submit with the CLI (detached), then follow, list and cancel from new interpreters."""
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"""pools:
- name: lab
  backend: ssh
  hosts: [lab0, lab1]
  nodes: 2
  accelerator: cpu
  workdir: {tmp_path / 'remote'}
  ssh_config: {the_lab.ssh_config}
  known_hosts: {the_lab.known_hosts}
""")
    job = tmp_path / "job.yaml"
    job.write_text("name: reattach\naccelerator: cpu\nnodes: 2\npool: lab\n"
                   "command: for i in 1 2 3; do echo \"tick $i\"; sleep 0.5; done\n")
    env = {"ACCELCTL_INVENTORY": str(overlay)}
    submitted = run_accelctl("submit", str(job), "--detach", env=env)
    assert submitted.returncode == 0, submitted.stderr
    listed = run_accelctl("jobs", "--all", "-o", "json", env=env)
    record = default_store().get(json.loads(listed.stdout)[0]["id"])
    assert record.target["hosts"] == ["lab0", "lab1"] and record.target["ssh_config"] == str(the_lab.ssh_config)
    followed = run_accelctl("logs", "-f", record.id, env=env)
    assert followed.returncode == 0, followed.stderr
    assert sorted(followed.stdout.splitlines()) == sorted(f"[{r}] tick {i}" for r in (0, 1) for i in (1, 2, 3))
    assert os.path.isdir(tmp_path / "remote" / record.backend_id)
