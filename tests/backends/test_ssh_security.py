"""The ssh backend's security and faults against real sshd: host keys (strict, hashed
known_hosts entries, accept-new, changed keys), hostile strings that must stay data,
ProxyJump, and one clear line for each way a host can fail us."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import paramiko
import pytest

from accelctl.backends.base import JobState
from accelctl.backends.jobs import submit_job
from accelctl.backends.ssh_conn import UnknownHostKey
from accelctl.core.jobspec import JobSpec
from accelctl.core.models import SshPool
from accelctl.core.placement import Placement
from accelctl.core.store import default_store, new_job_id
from accelctl.errors import AccelctlError
from tests.backends.harness_ssh import placement, ssh_backend
from tests.backends.sshd import Lab, keygen, lab

pytestmark = pytest.mark.timeout(120)

HOSTILE = ["semi;colon", "$(touch PWNED)", "`touch PWNED`", "it's \"quoted\"", "two  spaces", "new\nline",
           "back\\slash", "-dash", "$HOME", "*"]


@pytest.fixture
def the_lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return lab(request.config)


async def run_to_end(backend, command: str, **kwargs) -> tuple[JobState, str]:  # type: ignore[no-untyped-def]
    backend_id = await backend.submit(JobSpec(name="sec", command=command, **kwargs), placement(), new_job_id())
    text = "".join([b.text async for b in backend.logs(backend_id, follow=True)])
    return (await backend.status(backend_id)).state, text


async def test_an_unknown_host_is_refused_with_how_to_trust_it(the_lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    backend = ssh_backend(the_lab, tmp_path, known_hosts=str(known))
    with pytest.raises(UnknownHostKey) as e:
        await backend.submit(JobSpec(name="x", command="true"), placement(), new_job_id())
    port = the_lab.servers[0].port
    assert f"[127.0.0.1]:{port}" in e.value.message and "SHA256:" in e.value.message
    assert e.value.hint and f"ssh-keyscan -p {port} 127.0.0.1" in e.value.hint and "accept-new" in e.value.hint
    assert known.read_text() == ""  # never a silent add
    assert not (await backend.probe()).ok


async def test_hashed_known_hosts_entries_are_honoured(the_lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    kind, key = the_lab.servers[0].host_pub.split()[:2]
    known.write_text(f"{paramiko.HostKeys.hash_host(f'[127.0.0.1]:{the_lab.servers[0].port}')} {kind} {key}\n")
    backend = ssh_backend(the_lab, tmp_path, known_hosts=str(known))
    assert (await run_to_end(backend, "echo hi")) == (JobState.SUCCEEDED, "hi\n")


async def test_accept_new_records_the_key_and_says_so(the_lab: Lab, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    known = tmp_path / "new" / "known_hosts"
    backend = ssh_backend(the_lab, tmp_path, known_hosts=str(known), host_key_policy="accept-new")
    with caplog.at_level(logging.WARNING, logger="accelctl.ssh"):
        assert (await run_to_end(backend, "echo hi")) == (JobState.SUCCEEDED, "hi\n")
    assert known.read_text().strip() == the_lab.known_line(0)
    assert known.stat().st_mode & 0o777 == 0o600
    assert any("added [127.0.0.1]" in r.getMessage() for r in caplog.records)
    strict = ssh_backend(the_lab, tmp_path, known_hosts=str(known))  # now trusted, strictly
    assert (await strict.probe()).ok


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
async def test_a_changed_host_key_is_always_refused(the_lab: Lab, tmp_path: Path, policy: str) -> None:
    known = tmp_path / "known_hosts"
    kind, key = the_lab.servers[1].host_pub.split()[:2]  # lab1's key under lab0's name
    known.write_text(f"[127.0.0.1]:{the_lab.servers[0].port} {kind} {key}\n")
    backend = ssh_backend(the_lab, tmp_path, known_hosts=str(known), host_key_policy=policy)
    with pytest.raises(AccelctlError, match="offered a different key"):
        await backend.submit(JobSpec(name="x", command="true"), placement(), new_job_id())


async def test_hostile_strings_stay_data(the_lab: Lab, tmp_path: Path) -> None:
    """Env values, the remote workdir and uploaded file names with shell syntax in them."""
    remote = tmp_path / "re mote;$(touch PWNED)`touch PWNED`'\""
    work = tmp_path / "work"
    work.mkdir()
    odd = "a;b $(touch PWNED) `x` 'q\".txt"
    (work / odd).write_text("content\n")
    env = {f"V{i}": value for i, value in enumerate(HOSTILE)}
    backend = ssh_backend(the_lab, tmp_path)
    backend.workdir = str(remote)
    command = "; ".join(f'printf "%s|" "$V{i}"' for i in range(len(HOSTILE))) + "; echo; cat ./*.txt"
    state, text = await run_to_end(backend, command, env=env, workdir=str(work))
    assert state == JobState.SUCCEEDED
    assert text == "|".join(HOSTILE) + "|\ncontent\n"
    assert not list(tmp_path.rglob("PWNED")) and not Path.home().joinpath("PWNED").exists()
    assert (remote.exists() and list(remote.iterdir()))


async def test_proxyjump_reaches_a_host_through_another(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path, ("lab1-via-lab0",))
    assert (await run_to_end(backend, "echo through")) == (JobState.SUCCEEDED, "through\n")
    client = backend.connections.client("lab1-via-lab0")
    assert isinstance(client.get_transport().sock, paramiko.Channel)  # through lab0, not a socket


@pytest.mark.parametrize(("host", "settings", "message"), [
    ("down", {}, "cannot reach down"),
    ("via-down", {}, "cannot reach down"),
    ("lab0", {"identity_file": "WRONG_KEY"}, "refused our keys"),
])
async def test_a_host_that_fails_us_is_one_clear_line(the_lab: Lab, tmp_path: Path, host: str,
                                                      settings: dict[str, str], message: str) -> None:
    if settings.get("identity_file") == "WRONG_KEY":
        keygen(tmp_path / "stranger")
        settings = {"identity_file": str(tmp_path / "stranger")}
    backend = ssh_backend(the_lab, tmp_path, (host,), **settings)
    started = time.monotonic()
    with pytest.raises(AccelctlError) as e:
        await backend.submit(JobSpec(name="x", command="true"), placement(), new_job_id())
    assert message in e.value.message and "\n" not in e.value.message
    assert time.monotonic() - started < 12
    probe = await backend.probe()
    assert not probe.ok and message in probe.detail


async def test_a_failed_submission_leaves_nothing_behind(the_lab: Lab, tmp_path: Path) -> None:
    """A workdir that cannot be made on the host: one line, no job stored, nothing left there."""
    pool = SshPool(name="lab", accelerator="cpu", hosts=("lab0", "lab1"), nodes=2, workdir="/proc/no-such/jobs",
                   ssh_config=str(the_lab.ssh_config), known_hosts=str(the_lab.known_hosts))
    with pytest.raises(AccelctlError, match="cannot make the job directory on lab[01]"):
        await submit_job(JobSpec(name="x", command="true"), Placement(pool, "cpu", 1, 2), default_store())
    assert default_store().list(include_done=True) == []


@pytest.fixture
def full_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 256 KiB tmpfs as the hosts' workdir (needs root and mount rights, else skipped)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_on_the_host_fails_the_upload_and_leaves_nothing(the_lab: Lab, tmp_path: Path,
                                                                          full_disk: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "weights.bin").write_bytes(b"x" * 1024 * 1024)
    (work / "link").symlink_to("/etc/passwd")  # links are skipped, not followed
    pool = SshPool(name="lab", accelerator="cpu", hosts=("lab0", "lab1"), nodes=2, workdir=str(full_disk),
                   ssh_config=str(the_lab.ssh_config), known_hosts=str(the_lab.known_hosts))
    with pytest.raises(AccelctlError, match="cannot upload the job to lab") as e:
        await submit_job(JobSpec(name="x", command="true", workdir=str(work)), Placement(pool, "cpu", 1, 2),
                         default_store())
    assert e.value.hint and "disk full" in e.value.hint
    assert default_store().list(include_done=True) == []
    assert list(full_disk.iterdir()) == []
