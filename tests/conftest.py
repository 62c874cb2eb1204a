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
    """A real Ray head started by accelctl's local pool, plus a stand-in TPU host."""

    address: str
    state_home: Path
    cache_home: Path
    tpu_node_id: str


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """Start the local pool once per test run (through LocalRay, as `accelctl` does) and
    join a second node that advertises TPU resources, as a TPU v5e host would."""
    import json
    import signal
    import tempfile
    import time
    import urllib.request

    from accelctl.backends.local import LocalRay

    # Ray's Unix sockets need a short session path: keep the cache dir near /tmp's root.
    root = Path(tempfile.mkdtemp(prefix="acray-"))
    state_home, cache_home = root / "state", root / "cache"
    local = LocalRay(state_file=state_home / "accelctl" / "local-pool.json", temp_dir=root / "ray")
    address = local.start()
    nodes_url = f"{address}/api/v0/nodes?limit=100"
    head = json.load(urllib.request.urlopen(nodes_url))["data"]["result"]["result"][0]
    gcs = f"{head['node_ip']}:{json.loads(local.state_file.read_text())['gcs_port']}"
    resources = json.dumps({"TPU": 4, "TPU-v5litepod-16-head": 1})
    worker = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", f"--address={gcs}", "--num-cpus=1",
         f"--resources={resources}", "--block", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    tpu_node_id = ""
    deadline = time.monotonic() + 120
    while not tpu_node_id and time.monotonic() < deadline:
        for node in json.load(urllib.request.urlopen(nodes_url))["data"]["result"]["result"]:
            if node["state"] == "ALIVE" and node["resources_total"].get("TPU"):
                tpu_node_id = node["node_id"]
        time.sleep(0.5)
    assert tpu_node_id, "the stand-in TPU node did not join"
    try:
        yield RayCluster(address, state_home, cache_home, tpu_node_id)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        local.stop()


@pytest.fixture
def ray_env(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RayCluster:
    """Point accelctl at the session's Ray cluster and add test pools on it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(ray_cluster.state_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(ray_cluster.cache_home))
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(
        "pools:\n"
        f"  - {{name: tpu-test, backend: ray, address: '{ray_cluster.address}', accelerator: v5e,"
        " count: 4, nodes: 4}\n"
        f"  - {{name: gpu-test, backend: ray, address: '{ray_cluster.address}', accelerator: L4, count: 1}}\n"
        "  - {name: dead-ray, backend: ray, address: 'http://127.0.0.1:9', accelerator: cpu}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    return ray_cluster
