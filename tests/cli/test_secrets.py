"""Secrets stay secret: env values given by reference (`{from_env: VAR}`, `{secret: NAME}`)
reach the job and nowhere else. On the local pool (real Ray), an SSH pool (real sshd) and a
Kubernetes pool (the test API server), a job proves it got each value by printing its
SHA-256; then every output accelctl gave (dry run, submit, jobs -o json, logs, render) and
every file under accelctl's config, state and cache dirs, the local pool's Ray session
files and the SSH job's directory on the host, are searched for the value itself. The same
search looks for the credentials accelctl uses: the Ray token (allowed in its own 0600 file
only), the kubeconfig's bearer token and the SSH private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.backends.sshd import Lab, lab
from tests.conftest import RayCluster, run_accelctl
from tests.kubeapi.server import CONTEXT, KubeAPIServer

pytestmark = pytest.mark.timeout(300)

# Prints the SHA-256 of each variable named on its command line (or "unset").
PROBE = ("import hashlib, os, sys; [print(n, hashlib.sha256(os.environ[n].encode()).hexdigest() "
         "if n in os.environ else 'unset') for n in sys.argv[1:]]")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def write_spec(tmp_path: Path, env: str, pool: str, names: str = "TOKEN", extra: str = "") -> Path:
    spec = tmp_path / "secret-job.yaml"
    spec.write_text(f"name: secret-job\npool: {pool}\ncommand: [python3, -c, \"{PROBE}\", {', '.join(names.split())}]\n"
                    f"env:\n{env}{extra}")
    return spec


def files_under(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


def holders(needles: dict[str, str], roots: Iterable[Path], outputs: dict[str, str],
            allowed: dict[str, Path] | None = None) -> list[str]:
    """Where any needle shows: 'what: file or output'. `allowed`: the one file a needle may
    live in (the Ray token's own file). Asserts that files were actually searched."""
    found, scanned = [], 0
    for path in files_under(roots):
        scanned += 1
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for what, needle in needles.items():
            if needle.encode() in data and (allowed or {}).get(what) != path:
                found.append(f"{what}: {path}")
    for name, text in outputs.items():
        found += [f"{what}: output of {name}" for what, needle in needles.items() if needle in text]
    assert scanned > 0
    return found


def run(outputs: dict[str, str], name: str, *args: str, env: dict[str, str] | None = None,
        code: int = 0) -> str:
    done = run_accelctl(*args, env=env)
    outputs[name] = done.stdout + done.stderr
    assert done.returncode == code, f"{name}: {done.stderr}"
    return done.stdout


def submit_and_read(outputs: dict[str, str], spec: Path, env: dict[str, str]) -> str:
    """Dry run, submit (following to the end), jobs -o json, logs: the job's output."""
    run(outputs, "submit --dry-run", "submit", "--dry-run", str(spec), "-o", "json", env=env)
    printed = run(outputs, "submit", "submit", str(spec), env=env)
    # Newest first; the local pool's store is shared by the session's Ray tests.
    jobs = [j for j in json.loads(run(outputs, "jobs -o json", "jobs", "--all", "-o", "json"))
            if j["name"] == "secret-job"]
    assert jobs and jobs[0]["state"] == "SUCCEEDED", jobs
    assert run(outputs, "logs", "logs", jobs[0]["id"]) == printed
    return printed


def xdg_dirs() -> list[Path]:
    return [Path(os.environ[v]) for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
            if Path(os.environ[v]).exists()]


def test_local_pool_from_env(ray_env: RayCluster, tmp_path: Path) -> None:
    """The value travels in a 0600 file the entrypoint reads and removes; Ray's job table,
    dashboard logs and session files never see it."""
    value = f"local-{secrets.token_hex(16)}"
    spec = write_spec(tmp_path, "  TOKEN: {from_env: ACCELCTL_TEST_SECRET}\n  PLAIN: visible\n", "local",
                      "TOKEN PLAIN", extra="resources: {cpu: 0}\n")
    outputs: dict[str, str] = {}
    printed = submit_and_read(outputs, spec, {"ACCELCTL_TEST_SECRET": value})
    assert f"TOKEN {sha(value)}" in printed and f"PLAIN {sha('visible')}" in printed
    assert "from_env" in outputs["submit --dry-run"]  # the plan shows the reference, not the value
    assert not list((ray_env.state_home / "accelctl" / "job-env").iterdir())  # read and removed
    token = ray_env.token_file.read_text().strip()
    found = holders({"secret": value, "ray token": token}, [*xdg_dirs(), ray_env.root], outputs,
                    allowed={"ray token": ray_env.token_file})
    assert found == []


def test_a_remote_ray_pool_refuses_from_env_before_anything_runs(ray_env: RayCluster, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  TOKEN: {from_env: ACCELCTL_TEST_SECRET}\n", "gpu-test")
    done = run_accelctl("submit", str(spec), env={"ACCELCTL_TEST_SECRET": "x"})
    assert done.returncode == 2
    assert done.stderr.startswith(f"{spec}:5:10: env.TOKEN: pool \"gpu-test\" cannot take {{from_env: "), done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(run_accelctl("jobs", "--all", "--pool", "gpu-test", "-o", "json").stdout) == []


def test_an_unset_variable_is_a_located_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  TOKEN: {from_env: ACCELCTL_NOT_SET_ANYWHERE}\n", "local")
    done = run_accelctl("submit", "--dry-run", str(spec))
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (f"{spec}:5:10: env.TOKEN: $ACCELCTL_NOT_SET_ANYWHERE is not set in "
                                          "this shell; export ACCELCTL_NOT_SET_ANYWHERE=... before submitting")


@pytest.fixture
def ssh_lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lab:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    the_lab = lab(request.config)
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"pools:\n- {{name: lab, backend: ssh, hosts: [lab0], accelerator: cpu,"
                       f" ssh_config: '{the_lab.ssh_config}', known_hosts: '{the_lab.known_hosts}',"
                       f" workdir: '{tmp_path / 'remote'}'}}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    return the_lab


def test_ssh_pool_from_env(ssh_lab: Lab, tmp_path: Path) -> None:
    """The value goes on the launch command's stdin: not in run.sh, the log, or the store."""
    value = f"ssh-{secrets.token_hex(16)}"
    spec = write_spec(tmp_path, "  TOKEN: {from_env: ACCELCTL_TEST_SECRET}\n", "lab")
    outputs: dict[str, str] = {}
    printed = submit_and_read(outputs, spec, {"ACCELCTL_TEST_SECRET": value})
    assert f"TOKEN {sha(value)}" in printed
    remote = tmp_path / "remote"
    assert any(remote.rglob("run.sh"))  # the job's directory on the host is searched too
    key = ssh_lab.key.read_text().strip().splitlines()[1]  # a line of the private key's body
    found = holders({"secret": value, "ssh key": key}, [*xdg_dirs(), remote], outputs)
    assert found == []


@pytest.fixture
def kubeapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeAPIServer]:
    server = KubeAPIServer().start()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"pools:\n  - {{name: kube, backend: kubernetes, context: {CONTEXT}, accelerator: cpu}}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    yield server
    server.stop()


def test_kubernetes_pool_secret_and_from_env(kubeapi: KubeAPIServer, tmp_path: Path) -> None:
    """`{secret: NAME}` becomes a secretKeyRef to the user's Secret; `{from_env: VAR}` a
    secretKeyRef to a Secret accelctl makes at submit (owned by the Job, so it goes with it).
    Neither value is in a manifest, a rendered file or anything accelctl keeps."""
    value, db_password = f"kube-{secrets.token_hex(16)}", f"db-{secrets.token_hex(16)}"
    kubeapi.store.create("secrets", "default", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"},
        "data": {"password": base64.b64encode(db_password.encode()).decode()}})
    spec = write_spec(tmp_path, "  TOKEN: {from_env: ACCELCTL_TEST_SECRET}\n"
                      "  DB: {secret: db-creds, key: password}\n", "kube", "TOKEN DB",
                      extra="image: python:3.11-slim\n")
    outputs: dict[str, str] = {}
    env = {"ACCELCTL_TEST_SECRET": value}
    printed = submit_and_read(outputs, spec, env)
    assert f"TOKEN {sha(value)}" in printed and f"DB {sha(db_password)}" in printed
    rendered = run(outputs, "render", "render", str(spec), env=env)
    assert "secretKeyRef" in rendered and "create secret generic" in outputs["render"]

    jobs = kubeapi.store.list("jobs", "default")[0]
    made = [s for s in kubeapi.store.list("secrets", "default")[0] if s["metadata"]["name"] != "db-creds"]
    assert len(jobs) == 1 and len(made) == 1
    assert made[0]["metadata"]["ownerReferences"][0]["uid"] == jobs[0]["metadata"]["uid"]
    container = jobs[0]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]} == {
        "TOKEN": {"name": made[0]["metadata"]["name"], "key": "TOKEN"}, "DB": {"name": "db-creds", "key": "password"}}

    found = holders({"secret": value, "db password": db_password, "kubeconfig token": kubeapi.token},
                    xdg_dirs(), outputs)
    assert found == []


def test_kubernetes_missing_secret_says_why_the_job_waits(kubeapi: KubeAPIServer, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  DB: {secret: nowhere}\n", "kube", "DB", extra="image: python:3.11-slim\n")
    run_accelctl("submit", "--detach", str(spec))
    deadline_polls = 50
    for _ in range(deadline_polls):
        jobs = json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)
        if 'secret "nowhere" not found' in (jobs[0].get("message") or ""):
            break
    else:
        pytest.fail(f"the job's state never said why it waits: {jobs}")
    assert jobs[0]["state"] == "PENDING"
