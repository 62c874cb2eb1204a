"""The real `kubectl` against the test API server run on its own (`python -m tests.kubeapi`),
so the wire protocol is checked by a client nobody here wrote: kubectl sees and reads what
accelctl submitted, applies what `accelctl render` prints, and deletes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_accelctl

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(shutil.which("kubectl") is None,
                                                          reason="kubectl is not installed (.ci/run installs it)")]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`python -m tests.kubeapi` in its own process; the env that reaches it."""
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "tests.kubeapi", "--port", "0", "--kubeconfig", str(kubeconfig)],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert "serving the Kubernetes API test double" in process.stdout.readline()
    overlay = tmp_path / "pools.yaml"
    overlay.write_text("pools:\n- name: kube\n  backend: kubernetes\n  context: accelctl-test\n  accelerator: cpu\n")
    yield {"KUBECONFIG": str(kubeconfig), "ACCELCTL_INVENTORY": str(overlay)}
    process.terminate()
    process.wait(10)


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=stdin, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_sees_what_accelctl_did(served: dict[str, str], tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("name: seen\nimage: python:3.11-slim\ncommand: echo one; echo two\n")
    submitted = run_accelctl("submit", str(job), "--pool", "kube", "--detach", env=served)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    jobs = json.loads(kubectl(served, "get", "jobs", "-o", "json"))["items"]
    assert [j["metadata"]["labels"]["accelctl.dev/job-id"] for j in jobs] == [job_id]
    name = jobs[0]["metadata"]["name"]
    deadline = time.monotonic() + 30
    while "Complete" not in kubectl(served, "get", "job", name, "-o", "jsonpath={.status.conditions[*].type}"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert kubectl(served, "logs", f"job/{name}") == "one\ntwo\n"
    assert run_accelctl("logs", job_id, env=served).stdout == "one\ntwo\n"


def test_kubectl_applies_and_deletes_what_accelctl_renders(served: dict[str, str], tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("name: applied\nimage: python:3.11-slim\nnodes: 2\ncommand: echo host $JOB_COMPLETION_INDEX\n")
    overlay = Path(served["ACCELCTL_INVENTORY"])
    overlay.write_text(overlay.read_text() + "  nodes: 2\n")
    rendered = run_accelctl("render", str(job), "--pool", "kube", env=served)
    assert rendered.returncode == 0, rendered.stderr
    out = kubectl(served, "apply", "-f", "-", stdin=rendered.stdout)
    assert "service/" in out and "job.batch/" in out
    name = json.loads(kubectl(served, "get", "jobs", "-o", "json"))["items"][0]["metadata"]["name"]
    deadline = time.monotonic() + 30
    while kubectl(served, "get", "job", name, "-o", "jsonpath={.status.succeeded}") != "2":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    logs = kubectl(served, "logs", "-l", f"batch.kubernetes.io/job-name={name}", "--prefix=false")
    assert sorted(logs.splitlines()) == ["host 0", "host 1"]
    kubectl(served, "delete", "-f", "-", stdin=rendered.stdout)
    assert kubectl(served, "get", "jobs,pods,services", "-o", "name") == ""
