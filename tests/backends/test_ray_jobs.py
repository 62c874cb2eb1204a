"""Jobs on a real Ray cluster, through the real `accelctl` CLI in fresh processes."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, RayCluster, run_accelctl

pytestmark = pytest.mark.timeout(600)


def spec(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}")
    return path


def test_local_pool_is_reused(ray_env: RayCluster) -> None:
    r = run_accelctl("local", "status")
    assert r.returncode == 0 and f"running at {ray_env.address}" in r.stdout


def test_hello_streams_every_line_and_exits_0(ray_env: RayCluster) -> None:
    r = run_accelctl("submit", str(REPO / "jobs" / "hello.yaml"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("host: ") and lines[1].startswith("python: ")
    assert lines[2].startswith("accelerators: ")
    assert lines[3:] == [f"count {i}" for i in range(1, 6)]
    assert "submitted hello as job" in r.stderr


def test_100k_lines_arrive_complete_and_in_order(ray_env: RayCluster, tmp_path: Path) -> None:
    script = tmp_path / "work"
    script.mkdir()
    (script / "emit.py").write_text(
        "import sys\n"
        "for i in range(100000):\n    print(f'line {i:06d}')\n"
        "print('progress 10%\\rprogress 100%')\n"
        "print('x' * 1_200_000)\n"
        "sys.stdout.write('no newline at the end')\n")
    path = spec(tmp_path, "many-lines", f"workdir: {script}\ncommand: python3 emit.py\n")
    r = run_accelctl("submit", str(path))
    assert r.returncode == 0, r.stderr
    # Ray's log API serves a "\r" as a line break (it reads the log with newline
    # translation); nothing is lost or repeated either way.
    expected = "".join(f"line {i:06d}\n" for i in range(100000)) + "progress 10%\nprogress 100%\n" \
        + "x" * 1_200_000 + "\nno newline at the end"
    assert r.stdout == expected
    job_id = r.stderr.split("as job ")[1].split()[0]
    again = run_accelctl("logs", job_id)
    assert again.returncode == 0 and again.stdout == expected
    tail = run_accelctl("logs", job_id, "--tail", "3")
    assert tail.stdout == "progress 100%\n" + "x" * 1_200_000 + "\nno newline at the end"


def test_failing_job_exits_3(ray_env: RayCluster, tmp_path: Path) -> None:
    path = spec(tmp_path, "fails", "command: python3 -c \"print('about to fail'); raise SystemExit(7)\"\n")
    r = run_accelctl("submit", str(path))
    assert r.returncode == 3
    assert r.stdout == "about to fail\n"
    assert "failed" in r.stderr.splitlines()[-1]


def test_detach_reattach_cancel_and_listing(ray_env: RayCluster, tmp_path: Path) -> None:
    slow = spec(tmp_path, "slow", 'command: [python3, -u, -c, "import time\\nfor i in range(600):'
                '\\n    print(i); time.sleep(0.5)"]\n')
    r = run_accelctl("submit", "--detach", str(slow))
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    assert len(job_id) == 8 and "accelctl logs -f" in r.stderr
    deadline = time.monotonic() + 120
    while run_accelctl("logs", job_id[:5]).stdout.count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(1)
    partial = run_accelctl("logs", job_id[:5]).stdout.splitlines()
    assert partial[:3] == ["0", "1", "2"]
    listing = run_accelctl("jobs", "-o", "json")
    mine = [j for j in json.loads(listing.stdout) if j["id"] == job_id]
    assert mine and mine[0]["state"] == "RUNNING" and mine[0]["pool"] == "local"
    assert run_accelctl("cancel", job_id).returncode == 0
    follow = run_accelctl("logs", "-f", job_id)
    assert follow.returncode == 4
    assert follow.stdout.splitlines()[:3] == ["0", "1", "2"]
    after = {j["id"]: j for j in json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)}
    assert after[job_id]["state"] == "CANCELLED" and after[job_id]["ended_at"]
    assert {"id", "name", "pool", "backend", "state", "submitted_at", "ended_at"} <= set(after[job_id])


def test_tpu_spec_lands_on_the_tpu_host(ray_env: RayCluster, tmp_path: Path) -> None:
    for nodes in (1, 4):
        path = spec(tmp_path, f"tpu-{nodes}", f"accelerator: v5e\ncount: 4\nnodes: {nodes}\n"
                    "command: echo on-tpu\n")
        plan = json.loads(run_accelctl("submit", "--dry-run", "-o", "json", str(path)).stdout)
        assert plan["pool"] == "tpu-test" and plan["resources"]["TPU"] == 4
        assert ("TPU-v5litepod-16-head" in plan["resources"]) == (nodes == 4)
        r = run_accelctl("submit", str(path))
        assert r.returncode == 0 and r.stdout == "on-tpu\n", r.stderr
        job_id = r.stderr.split("as job ")[1].split()[0]
        request = urllib.request.Request(f"{ray_env.address}/api/jobs/accelctl-{job_id}", headers=ray_env.headers())
        info = json.load(urllib.request.urlopen(request))
        assert info["driver_node_id"] == ray_env.tpu_node_id


def test_gpu_spec_is_refused_where_no_node_has_gpus(ray_env: RayCluster, tmp_path: Path) -> None:
    path = spec(tmp_path, "gpu", "accelerator: L4\ncommand: nvidia-smi\n")
    r = run_accelctl("submit", str(path))
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "has GPU=1" in r.stderr and "TPU" in r.stderr
    listing = json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)
    assert not [j for j in listing if j["name"] == "gpu"]


def test_unreachable_ray_exits_1_and_stores_nothing(ray_env: RayCluster, tmp_path: Path) -> None:
    path = spec(tmp_path, "nowhere", "pool: dead-ray\ncommand: echo hi\n")
    r = run_accelctl("submit", str(path))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "does not answer" in r.stderr and "Traceback" not in r.stderr
    listing = json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)
    assert not [j for j in listing if j["name"] == "nowhere"]


def test_ctrl_c_detaches_and_the_job_keeps_running(ray_env: RayCluster, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    slow = spec(tmp_path, "interrupted", 'command: [python3, -u, -c, "import time\\nfor i in range(600):'
                '\\n    print(i); time.sleep(0.5)"]\n')
    proc = subprocess.Popen([sys.executable, "-m", "accelctl", "submit", str(slow)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "2":
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    job_id = err.split("as job ")[1].split()[0]
    assert f"accelctl logs -f {job_id}" in err and f"accelctl cancel {job_id}" in err
    listing = {j["id"]: j for j in json.loads(run_accelctl("jobs", "-o", "json").stdout)}
    assert listing[job_id]["state"] == "RUNNING"
    assert run_accelctl("cancel", job_id).returncode == 0


def test_a_reader_that_goes_away_ends_streaming_quietly(ray_env: RayCluster, tmp_path: Path) -> None:
    """`accelctl submit | head -1` and `accelctl logs -f | head -1`: exit 0, nothing on stderr but
    accelctl's own lines (no unclosed session, no pending task, no traceback)."""
    import subprocess
    import sys

    slow = spec(tmp_path, "piped", 'command: [python3, -u, -c, "import time\\nfor i in range(600):'
                '\\n    print(i); time.sleep(0.05)"]\n')
    accelctl = f"{sys.executable} -m accelctl"
    submitted = subprocess.run(["bash", "-c", f"{accelctl} submit {slow} | head -1; exit ${{PIPESTATUS[0]}}"],
                               capture_output=True, text=True, timeout=120)
    assert (submitted.returncode, submitted.stdout) == (0, "0\n"), submitted.stderr
    job_id = submitted.stderr.split("as job ")[1].split()[0]
    followed = subprocess.run(["bash", "-c", f"{accelctl} logs -f {job_id} | head -1; exit ${{PIPESTATUS[0]}}"],
                              capture_output=True, text=True, timeout=120)
    assert (followed.returncode, followed.stdout) == (0, "0\n"), followed.stderr
    for err in (submitted.stderr, followed.stderr):
        assert all(line.startswith("accelctl: ") for line in err.splitlines()), err
    assert run_accelctl("cancel", job_id).returncode == 0


def test_a_finished_jobs_output_outlives_its_pool(ray_env: RayCluster, tmp_path: Path) -> None:
    """Once a job has ended accelctl keeps its output: `logs` works with the pool gone, and a
    job whose output was not kept says in one line which pool forgot it."""
    import sqlite3

    path = spec(tmp_path, "kept", "pool: gpu-test\ncommand: python3 -c \"print('kept 1'); print('kept 2')\"\n"
                "accelerator: cpu\n")
    detached = run_accelctl("submit", "--detach", str(path))
    job_id = detached.stdout.strip()
    deadline = time.monotonic() + 120
    while json.loads(run_accelctl("jobs", "--all", "-o", "json").stdout)[0]["state"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.5)  # `jobs` sees it end and keeps its output
    archive = ray_env.state_home / "accelctl" / "logs" / f"{job_id}.log.gz"
    assert archive.is_file()
    # The cluster goes away: its address stops answering.
    with sqlite3.connect(ray_env.state_home / "accelctl" / "jobs.sqlite") as conn:
        conn.execute("UPDATE jobs SET target = ? WHERE id = ?",
                     (json.dumps({"address": "http://127.0.0.1:9"}), job_id))
    for args in (("logs", job_id), ("logs", "-f", job_id), ("logs", "--tail", "1", job_id)):
        r = run_accelctl(*args)
        assert r.returncode == 0 and r.stdout == ("kept 2\n" if "--tail" in args else "kept 1\nkept 2\n"), r.stderr
    archive.unlink()
    gone = run_accelctl("logs", job_id)
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1
    assert 'pool "gpu-test": Ray at http://127.0.0.1:9 does not answer' in gone.stderr
    pruned = run_accelctl("jobs", "--prune", "--pool", "gpu-test")
    assert pruned.returncode == 0 and "forgot" in pruned.stderr
    assert job_id not in run_accelctl("jobs", "--all", "-o", "json").stdout


def test_a_cpu_jobs_count_is_its_cpus_and_too_many_are_refused(ray_env: RayCluster, tmp_path: Path) -> None:
    path = spec(tmp_path, "cpus", "command: echo hi\n")
    plan = json.loads(run_accelctl("submit", "--dry-run", "-o", "json", "--set", "count=2", str(path)).stdout)
    assert plan["resources"] == {"CPU": 2.0} and plan["count"] == 2
    r = run_accelctl("submit", "--set", "count=512", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "has CPU=512" in r.stderr, r.stderr
