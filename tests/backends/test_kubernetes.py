"""The Kubernetes backend against the test API server (tests/kubeapi): what the contract
suite does not cover. Several pods with prefixes, a follow cut mid-stream, a pod that
cannot be scheduled, faults of the kubeconfig and of the server, and the CLI end to end.
The server is a test double: no real cluster runs on these machines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accelctl.backends import streams
from accelctl.backends.base import LogBatch
from accelctl.backends.kubernetes import KubernetesBackend
from accelctl.core.jobspec import JobSpec
from accelctl.core.jobstate import JobState
from accelctl.core.models import Resources
from accelctl.core.store import new_job_id
from accelctl.errors import AccelctlError, InvalidInput
from tests.backends.harness_k8s import emitter, k8s_placement, k8s_pool
from tests.conftest import run_accelctl
from tests.kubeapi.server import CONTEXT, KubeAPIServer

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def kubeapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeAPIServer]:
    """A fresh test API server, with $KUBECONFIG pointing at it (context accelctl-test)."""
    server = KubeAPIServer().start()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    yield server
    server.stop()


def backend(namespace: str = "default", context: str | None = CONTEXT) -> KubernetesBackend:
    return KubernetesBackend("k8s-test", context, namespace)


def spec(command: list[str] | str, **fields: Any) -> JobSpec:
    return JobSpec(name="k8s", command=tuple(command) if isinstance(command, list) else command,
                   image="python:3.11-slim", **fields)


async def follow(b: KubernetesBackend, backend_id: str, notices: list[str] | None = None) -> str:
    def say(message: str, *, reconnect: bool = False) -> None:
        if notices is not None:
            notices.append(message)
    batches: list[LogBatch] = [x async for x in b.logs(backend_id, follow=True, notice=say)]
    return "".join(x.text for x in batches)


async def wait_for(b: KubernetesBackend, backend_id: str, *states: JobState, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await b.status(backend_id)).state not in states:
        assert time.monotonic() < deadline, f"never reached {states}"
        await asyncio.sleep(0.1)


async def test_two_nodes_merge_with_host_prefixes(kubeapi: KubeAPIServer) -> None:
    b = backend()
    script = "for i in $(seq 1 500); do echo \"host $JOB_COMPLETION_INDEX line $i\"; done"
    placement = k8s_placement(k8s_pool(nodes=2), nodes=2)
    backend_id = await b.submit(spec(script), placement, new_job_id())
    services, _ = kubeapi.store.list("services", "default")
    assert [s["metadata"]["name"] for s in services] == [backend_id]  # the headless Service came first
    text = await follow(b, backend_id)
    lines = text.splitlines()
    for host in (0, 1):
        mine = [line for line in lines if line.startswith(f"[{host}] ")]
        assert mine == [f"[{host}] host {host} line {i}" for i in range(1, 501)]
    assert len(lines) == 1000
    assert (await b.status(backend_id)).state == JobState.SUCCEEDED


async def test_cut_connections_mid_follow_resume_exactly(kubeapi: KubeAPIServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "RECONNECT_DELAYS", (0.05,))
    output = "".join(f"{i}\n" for i in range(100_000))
    kubeapi.cut_follows = [50_000, 120_000, 7, 300_000]  # bytes into each of the next follows
    b = backend()
    backend_id = await b.submit(spec(emitter(tmp_path, output, slow=True)), k8s_placement(), new_job_id())
    notices: list[str] = []
    assert await follow(b, backend_id, notices) == output
    dropped = [n for n in notices if n.startswith("log stream dropped")]
    assert len(dropped) == 4 and not kubeapi.cut_follows


async def test_an_unschedulable_pod_says_why(kubeapi: KubeAPIServer) -> None:
    b = backend()
    backend_id = await b.submit(spec("echo never", resources=Resources(cpu=500)), k8s_placement(), new_job_id())
    await asyncio.sleep(0.5)
    status = await b.status(backend_id)
    assert status.state == JobState.PENDING and "Insufficient cpu" in status.message
    notices: list[str] = []
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(follow(b, backend_id, notices), 2.5)
    assert any(n.startswith("pending: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu") for n in notices)
    assert await b.cancel(backend_id)
    await wait_for(b, backend_id, JobState.CANCELLED)
    assert kubeapi.store.list("jobs", "default")[0] == []


async def test_cancel_deletes_job_pods_and_service(kubeapi: KubeAPIServer) -> None:
    b = backend()
    placement = k8s_placement(k8s_pool(nodes=2), nodes=2)
    backend_id = await b.submit(spec("echo up; sleep 300"), placement, new_job_id())
    await wait_for(b, backend_id, JobState.RUNNING)
    assert await b.cancel(backend_id)
    await wait_for(b, backend_id, JobState.CANCELLED)
    for resource in ("jobs", "pods", "services"):
        assert kubeapi.store.list(resource, "default")[0] == [], resource
    assert not await b.cancel(backend_id)


# --- faults: one clear error each, nothing left behind -----------------------------------------

async def test_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(AccelctlError, match="no kubeconfig at .*missing"):
        await KubernetesBackend.from_target("k8s-test", {"context": CONTEXT}).status("x")


async def test_unknown_context(kubeapi: KubeAPIServer) -> None:
    with pytest.raises(InvalidInput, match="has no context nope"):
        await backend(context="nope").status("x")


async def test_unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = KubeAPIServer()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kc")))
    server.httpd.server_close()  # never started: the port refuses connections
    with pytest.raises(AccelctlError, match="cannot reach https://127.0.0.1"):
        await backend().status("x")
    assert not (await backend().probe()).ok


async def test_wrong_token_and_forbidden_namespace(kubeapi: KubeAPIServer) -> None:
    kubeapi.forbidden.add("default")
    with pytest.raises(AccelctlError, match=r"not allowed \(403\)"):
        await backend().submit(spec("true"), k8s_placement(), new_job_id())
    kubeapi.token = "rotated"
    with pytest.raises(AccelctlError, match=r"refused the credentials \(401\)"):
        await backend().status("x")


async def test_missing_namespace(kubeapi: KubeAPIServer) -> None:
    with pytest.raises(InvalidInput, match="namespace ml does not exist"):
        await backend("ml").submit(spec("true"), k8s_placement(k8s_pool("ml")), new_job_id())


async def test_a_rejected_manifest_leaves_nothing_behind(kubeapi: KubeAPIServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from accelctl.backends import k8s_manifests

    real = k8s_manifests.render

    def broken(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        objects = real(*args, **kwargs)
        del objects[-1]["spec"]["template"]["spec"]["containers"][0]["image"]
        return objects

    monkeypatch.setattr(k8s_manifests, "render", broken)
    placement = k8s_placement(k8s_pool(nodes=2), nodes=2)
    with pytest.raises(InvalidInput, match=r"rejected .*containers\[0\]\.image: Required value"):
        await backend().submit(spec("true"), placement, new_job_id())
    assert kubeapi.store.list("services", "default")[0] == []  # the Service made first is gone again


# --- the CLI, end to end --------------------------------------------------------------------

def _overlay(tmp_path: Path, namespace: str = "default") -> Path:
    path = tmp_path / "pools.yaml"
    path.write_text(f"pools:\n- name: kube\n  backend: kubernetes\n  context: {CONTEXT}\n"
                    f"  namespace: {namespace}\n  accelerator: cpu\n  nodes: 2\n")
    return path


def _job(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(f"name: kube-job\nimage: python:3.11-slim\n{body}")
    return path


def test_cli_submit_logs_jobs_and_exit_codes(kubeapi: KubeAPIServer, tmp_path: Path) -> None:
    env = {"ACCELCTL_INVENTORY": str(_overlay(tmp_path))}
    ok = run_accelctl("submit", str(_job(tmp_path, "command: echo hello from kubernetes\n")), "--pool", "kube",
                      env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "hello from kubernetes\n"
    script = "echo working; if [ $JOB_COMPLETION_INDEX = 0 ]; then sleep 0.5; exit 3; fi"  # host 1 ends first
    bad = run_accelctl("submit", str(_job(tmp_path, f"command: '{script}'\nnodes: 2\n")), "--pool", "kube",
                       env=env)
    assert bad.returncode == 3, bad.stderr
    assert sorted(bad.stdout.splitlines()) == ["[0] working", "[1] working"]
    assert "(exit code 3)" in bad.stderr
    listed = run_accelctl("jobs", "--all", env=env)
    assert listed.returncode == 0 and "SUCCEEDED" in listed.stdout and "FAILED" in listed.stdout


def test_cli_fault_is_one_line_and_no_phantom_job(kubeapi: KubeAPIServer, tmp_path: Path) -> None:
    env = {"ACCELCTL_INVENTORY": str(_overlay(tmp_path, "ml"))}
    r = run_accelctl("submit", str(_job(tmp_path, "command: echo hi\n")), "--pool", "kube", env=env)
    assert r.returncode == 2 and "namespace ml does not exist" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert "kube-job" not in run_accelctl("jobs", "--all", env=env).stdout


async def test_probe_counts_the_devices_nodes_offer_and_pods_hold(kubeapi: KubeAPIServer) -> None:
    pool = k8s_pool(accelerator="nvidia-l4", count=8)
    b = KubernetesBackend.from_pool(pool)
    assert b.resource == "nvidia.com/gpu"
    assert (await b.probe()).detail == ("context accelctl-test, namespace default, "
                                        "1 node(s) offer 8 nvidia.com/gpu, 8 free")
    backend_id = await b.submit(spec(["python3", "-c", "import time; time.sleep(30)"], accelerator="L4", count=2),
                                k8s_placement(pool, accelerator="nvidia-l4", count=2), new_job_id())
    await wait_for(b, backend_id, JobState.RUNNING)
    assert (await b.probe()).detail.endswith("1 node(s) offer 8 nvidia.com/gpu, 6 free")
    b.node_selector = {"node.kubernetes.io/instance-type": "other"}
    assert (await b.probe()).detail.endswith("no node offers nvidia.com/gpu")
    await b.cancel(backend_id)
    missing = await backend(namespace="nowhere").probe()
    assert not missing.ok and "namespace nowhere does not exist" in missing.detail
