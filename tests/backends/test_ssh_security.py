"""The ssh backend's security and faults against real sshd: host keys (strict, hashed
known_hosts entries, accept-new, changed keys), hostile strings that must stay data,
ProxyJump, and one clear line for each way a host can fail us."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from accelctl.backends.base import JobState
from accelctl.backends.jobs import submit_job
from accelctl.backends.ssh_conn import UnknownHostKey
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import SshPool
from accelctl.core.store import default_store, new_job_id
from accelctl.errors import AccelctlError
from tests.backends.harness_ssh import placement, ssh_backend
from tests.backends.sshd import Lab, keygen, lab
from tests.conftest import run_accelctl

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
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    known = tmp_path / "new" / "known_hosts"
    backend = ssh_backend(the_lab, tmp_path, known_hosts=str(known), host_key_policy="accept-new")
    assert (await run_to_end(backend, "echo hi")) == (JobState.SUCCEEDED, "hi\n")
    assert known.read_text().strip() == the_lab.known_line(0)
    assert known.stat().st_mode & 0o777 == 0o600
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith("accelctl: trusted host lab0 ([127.0.0.1]:")
    strict = ssh_backend(the_lab, tmp_path, known_hosts=str(known))  # now trusted, strictly
    assert (await strict.probe()).ok
    assert capsys.readouterr().err == ""  # said once, when the key was added


def test_accept_new_tells_the_cli_user_on_stderr(the_lab: Lab, tmp_path: Path) -> None:
    """One line naming the host and its fingerprint, from a fresh process; none once known."""
    known = tmp_path / "known_hosts"
    env = {"ACCELCTL_INVENTORY": str(_overlay(the_lab, tmp_path, known_hosts=known, host_key_policy="accept-new"))}
    first = run_accelctl("pools", "probe", "lab", env=env)
    assert first.returncode == 0, first.stderr
    fingerprint = _fingerprint_of(the_lab.servers[0].host_pub)
    said = [line for line in first.stderr.splitlines() if "trusted host" in line]
    assert len(said) == 1 and "lab0" in said[0] and fingerprint in said[0] and str(known) in said[0]
    assert first.stderr.count("\n") == 1  # nothing else, and no logger's second copy
    again = run_accelctl("pools", "probe", "lab", env=env)
    assert again.returncode == 0 and "trusted host" not in again.stderr


def _fingerprint_of(public_line: str) -> str:
    import base64
    import hashlib

    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _overlay(the_lab: Lab, tmp_path: Path, **fields: object) -> Path:
    settings = {"ssh_config": the_lab.ssh_config, "known_hosts": the_lab.known_hosts, **fields}
    overlay = tmp_path / "pools.yaml"
    overlay.write_text("pools:\n- name: lab\n  backend: ssh\n  hosts: [lab0]\n  accelerator: cpu\n"
                       f"  workdir: {tmp_path / 'remote'}\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items()))
    return overlay


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


def _key_material(path: Path) -> list[bytes]:
    """What must never be shown of a private key file: each line of its body, and its raw
    private bytes (hex and base64) when it can be read without a passphrase."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    text = path.read_text()
    found = [line.encode() for line in text.splitlines() if line and not line.startswith("-----")]
    try:
        key = load_ssh_private_key(text.encode(), None)
    except (TypeError, ValueError):  # encrypted
        return found
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.private_bytes_raw()
    return [*found, raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")]


def test_no_key_or_passphrase_is_ever_printed_or_stored(the_lab: Lab, tmp_path: Path) -> None:
    """Every CLI output of a job's life (probe, submit, logs, jobs, cancel) and of the ways a
    key can fail (encrypted, refused), and every file in accelctl's state, cache and config
    dirs: none holds the test key's private material or the passphrase of an encrypted key."""
    import os
    import subprocess

    passphrase = "correct horse battery staple 7f3a"
    locked = tmp_path / "locked_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "locked", "-f", str(locked)],
                   check=True)
    keygen(tmp_path / "stranger")
    overlay = _overlay(the_lab, tmp_path)
    text = overlay.read_text().replace("hosts: [lab0]", "hosts: [lab0, lab1]\n  nodes: 2")
    for name, key in (("locked", locked), ("stranger", tmp_path / "stranger")):
        text += (f"- name: {name}\n  backend: ssh\n  hosts: [lab0]\n  accelerator: cpu\n  identity_file: {key}\n"
                 f"  ssh_config: {the_lab.ssh_config}\n  known_hosts: {the_lab.known_hosts}\n")
    overlay.write_text(text)
    env = {"ACCELCTL_INVENTORY": str(overlay)}
    job = tmp_path / "job.yaml"
    job.write_text("name: keys\naccelerator: cpu\nnodes: 2\npool: lab\ncommand: echo \"rank $ACCELCTL_NODE_RANK\"\n")

    outputs = [run_accelctl("pools", "probe", "lab", env=env), run_accelctl("submit", str(job), "--detach", env=env)]
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    job_id = outputs[-1].stdout.split()[-1]
    outputs += [run_accelctl("logs", "-f", job_id, env=env), run_accelctl("jobs", "--all", "-o", "json", env=env),
                run_accelctl("cancel", job_id, env=env), run_accelctl("pools", env=env)]
    assert sorted(outputs[2].stdout.splitlines()) == ["[0] rank 0", "[1] rank 1"]
    failed = [run_accelctl("pools", "probe", name, env=env) for name in ("locked", "stranger")]
    assert failed[0].returncode != 0 and "is encrypted" in failed[0].stdout + failed[0].stderr
    assert failed[1].returncode != 0 and "refused our keys" in failed[1].stdout + failed[1].stderr

    secrets = [passphrase.encode(), *_key_material(the_lab.key), *_key_material(locked),
               *_key_material(tmp_path / "stranger")]
    shown = [(f"{' '.join(o.args[3:])} {stream}", getattr(o, stream).encode())
             for o in outputs + failed for stream in ("stdout", "stderr")]
    dirs = [Path(os.environ[v]) for v in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")]
    stored = [(str(f), f.read_bytes()) for d in dirs for f in d.rglob("*") if f.is_file()]
    assert any("jobs" in name for name, _ in stored) and any("ssh-probe" in name for name, _ in stored)
    leaks = [(where, secret[:12]) for where, data in shown + stored for secret in secrets if secret in data]
    assert leaks == []
