"""The Kubernetes harness of the contract suite, and fixtures for the Kubernetes tests:
the test API server (tests/kubeapi, a test double that runs each pod's command as a
local process) and a kubeconfig whose context `accelctl-test` reaches it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accelctl.backends.kubernetes import KubernetesBackend
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import KubernetesPool
from accelctl.core.store import new_job_id
from tests.kubeapi.server import CONTEXT, KubeAPIServer


def k8s_pool(namespace: str = "default", context: str | None = CONTEXT, **fields: Any) -> KubernetesPool:
    return KubernetesPool(name="k8s-test", accelerator=fields.pop("accelerator", "cpu"), context=context,
                          namespace=namespace, **fields)


def k8s_placement(pool: KubernetesPool | None = None, nodes: int = 1, accelerator: str = "cpu",
                  count: int = 1) -> Placement:
    return Placement(pool or k8s_pool(), accelerator, count, nodes)


def emitter(tmp_path: Path, output: str, exit_code: int = 0, slow: bool = False) -> list[str]:
    """A command that writes `output` (in small, spaced pieces when `slow`) and exits `exit_code`."""
    work = tmp_path / new_job_id()
    work.mkdir()
    (work / "out.txt").write_text(output)
    size, pause = (512, 0.05) if slow else (65536, 0)
    (work / "emit.py").write_text(
        "import sys, time\n"
        f"text = open({str(work / 'out.txt')!r}).read()\n"
        f"for i in range(0, len(text), {size}):\n"
        f"    sys.stdout.write(text[i:i + {size}]); sys.stdout.flush(); time.sleep({pause})\n"
        f"sys.exit({exit_code})\n")
    return ["python3", str(work / "emit.py")]


class KubernetesHarness:
    """Jobs on the test API server; each pod runs a Python script that writes the output."""

    name = "kubernetes"

    def __init__(self, tmp_path: Path, server: KubeAPIServer) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.backend = KubernetesBackend("k8s-test", CONTEXT, "default", str(tmp_path / "kubeconfig"))

    async def start(self, output: str, exit_code: int = 0, slow: bool = False) -> str:
        spec = JobSpec(name="contract", command=tuple(emitter(self.tmp_path, output, exit_code, slow)),
                       image="python:3.11-slim")
        return await self.backend.submit(spec, k8s_placement(), new_job_id())


def kubernetes_harness(request: pytest.FixtureRequest, tmp_path: Path) -> KubernetesHarness:
    """The contract suite's factory: a test API server for this test, stopped after it."""
    server = KubeAPIServer().start()
    request.addfinalizer(server.stop)
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    request.getfixturevalue("monkeypatch").setenv("KUBECONFIG", str(kubeconfig))
    return KubernetesHarness(tmp_path, server)
