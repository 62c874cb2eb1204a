"""Shared fixtures: every test runs with its own XDG dirs and no user overlay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh XDG config/cache/state dirs; no overlay, no colour settings leaking in."""
    home = tmp_path_factory.mktemp("xdg")
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.delenv("ACCELCTL_INVENTORY", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `accelctl ARGS...` in-process through the real entry point; returns Result."""
    from accelctl.cli.main import run

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["accelctl", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            run()
        captured = capsys.readouterr()
        code = exc.value.code
        return Result(code if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


def run_accelctl(*args: str, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """Run accelctl in a fresh interpreter, as a user would. Output is decoded without
    newline translation, so a job's "\r" reaches the test as it was written."""
    done = subprocess.run([sys.executable, "-m", "accelctl.cli.main", *args], capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


@dataclass
class RayCluster:
    """A real Ray head started by accelctl's local pool, plus a stand-in TPU host.

    `root` is the 0700 dir holding everything of it: the state home (with the token file) and
    Ray's temp dir `temp_dir`, which both nodes share (a job's log is read from the logs dir
    of the node that took the submission, wherever its driver ran)."""

    address: str
    state_home: Path
    cache_home: Path
    tpu_node_id: str
    root: Path
    token_file: Path
    temp_dir: Path
    gcs_address: str
    head_pid: int
    worker_pid: int

    def headers(self) -> dict[str, str]:
        """The Authorization header a client of this pool sends."""
        return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}


# `ray start --address=127.0.0.1:PORT` swaps loopback for the machine's address, and with
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (which keeps the node's own listeners on loopback) it
# refuses to join at all. The stand-in node therefore runs Ray's CLI with both checks relaxed
# in its own process only; the processes it starts inherit the loopback setting.
_LOOPBACK_WORKER = (
    "import sys; import ray._private.ray_constants as c; import ray._private.services as s; "
    "c.ENABLE_RAY_CLUSTER = True; s.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """Start the local pool once per test run (through LocalRay, as `accelctl` does) and
    join a second node that advertises TPU resources, as a TPU v5e host would. Both stay on
    127.0.0.1 and behind the pool's token."""
    import json
    import shutil
    import signal
    import tempfile
    import time
    import urllib.request

    from accelctl.backends.local import LocalRay, auth_env

    # Ray's Unix sockets need a short session path: keep the dirs near /tmp's root. mkdtemp
    # makes `root` 0700, so Ray's 0777 session dirs inside it stay private.
    root = Path(tempfile.mkdtemp(prefix="acray-"))
    state_home, cache_home = root / "state", root / "cache"
    local = LocalRay(state_file=state_home / "accelctl" / "local-pool.json", temp_dir=root / "ray")
    address = local.start()
    state = local.status()
    assert state is not None
    headers = {"Authorization": f"Bearer {local.token()}"}

    def nodes() -> list[dict]:
        request = urllib.request.Request(f"{address}/api/v0/nodes?limit=100", headers=headers)
        return json.load(urllib.request.urlopen(request, timeout=10))["data"]["result"]["result"]

    resources = json.dumps({"TPU": 4, "TPU-v5litepod-16-head": 1})
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    worker = subprocess.Popen(
        [sys.executable, "-c", _LOOPBACK_WORKER, "start", f"--address={state['gcs_address']}",
         # No CPUs: only jobs that ask for its TPUs land on the stand-in node.
         "--node-ip-address=127.0.0.1", "--num-cpus=0", f"--resources={resources}",
         # Free ports of its own: Ray's fixed defaults (e.g. the agent's 52365) may be taken on a
         # busy machine, and an agent that cannot bind leaves the node's jobs without logs.
         *(f"--{name}={port}" for name, port in zip(
             ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
              "metrics-export-port", "node-manager-port", "object-manager-port"), _free_ports(6))),
         "--block", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**env, "RAY_USAGE_STATS_ENABLED": "0", **auth_env(local.token_file)})
    tpu_node_id = ""
    deadline = time.monotonic() + 120
    while not tpu_node_id and time.monotonic() < deadline and worker.poll() is None:
        for node in nodes():
            if node["state"] == "ALIVE" and node["resources_total"].get("TPU"):
                tpu_node_id = node["node_id"]
        time.sleep(0.5)
    try:
        assert tpu_node_id, "the stand-in TPU node did not join"
        _wait_until_node_serves_logs(address, headers, resources)
        yield RayCluster(address, state_home, cache_home, tpu_node_id, root, local.token_file, local.temp_dir,
                         state["gcs_address"], state["pid"], worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=35)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ray_env(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RayCluster:
    """Point accelctl at the session's Ray cluster and add test pools on it (they read the
    local pool's token file, as a remote pool with token auth would)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(ray_cluster.state_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(ray_cluster.cache_home))
    overlay = tmp_path / "pools.yaml"
    token_file = ray_cluster.token_file
    overlay.write_text(
        "pools:\n"
        f"  - {{name: tpu-test, backend: ray, address: '{ray_cluster.address}', accelerator: v5e,"
        f" count: 4, nodes: 4, auth_token_file: '{token_file}'}}\n"
        f"  - {{name: gpu-test, backend: ray, address: '{ray_cluster.address}', accelerator: L4, count: 1,"
        f" auth_token_file: '{token_file}'}}\n"
        "  - {name: dead-ray, backend: ray, address: 'http://127.0.0.1:9', accelerator: cpu}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    return ray_cluster


def _wait_until_node_serves_logs(address: str, headers: dict[str, str], resources: str) -> None:
    """Run a job on the stand-in node until the head can read its log: the node's agent
    registers a little after the node is alive, and until then its jobs' logs answer 500."""
    import json
    import time
    import urllib.error
    import urllib.request

    body = json.dumps({"entrypoint": "echo ready", "entrypoint_resources": json.loads(resources)}).encode()
    request = urllib.request.Request(f"{address}/api/jobs/", data=body, method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    job = json.load(urllib.request.urlopen(request, timeout=30))["submission_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            logs = urllib.request.Request(f"{address}/api/jobs/{job}/logs", headers=headers)
            if "ready" in json.load(urllib.request.urlopen(logs, timeout=10))["logs"]:
                return
        except (urllib.error.HTTPError, OSError):
            pass  # not yet: the agent is still registering
        time.sleep(0.5)
    raise AssertionError("the stand-in TPU node never served a job's log")


def _free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (all bound at once, so they differ)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
