"""The ssh backend in the contract suite: jobs on the test run's real sshd (tests/backends/sshd.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelctl.backends.ssh import SshBackend
from accelctl.backends.ssh_conn import SshSettings
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import SshPool
from accelctl.core.store import new_job_id
from tests.backends.sshd import Lab, lab

EMIT = """import sys, time
text = open('out.txt').read()
step = 512 if {pause} else 65536
for i in range(0, len(text), step):
    sys.stdout.write(text[i:i + step]); sys.stdout.flush()
    time.sleep({pause})
sys.exit({exit_code})
"""


def ssh_backend(the_lab: Lab, tmp_path: Path, hosts: tuple[str, ...] = ("lab0",), **settings: str) -> SshBackend:
    """A backend over lab hosts with the lab's ssh config and known_hosts; jobs under tmp_path."""
    merged = {"ssh_config": str(the_lab.ssh_config), "known_hosts": str(the_lab.known_hosts), **settings}
    return SshBackend("contract", hosts, SshSettings(**merged), workdir=str(tmp_path / "remote"))  # type: ignore[arg-type]


def placement(nodes: int = 1) -> Placement:
    pool = SshPool(name="contract", accelerator="cpu", hosts=tuple(f"lab{i}" for i in range(nodes)), nodes=nodes)
    return Placement(pool, "cpu", 1, nodes)


class SshHarness:
    """Jobs on lab0, each a Python script that writes the output."""

    name = "ssh"

    def __init__(self, tmp_path: Path, the_lab: Lab) -> None:
        self.tmp_path = tmp_path
        self.backend = ssh_backend(the_lab, tmp_path)

    async def start(self, output: str, exit_code: int = 0, slow: bool = False) -> str:
        work = self.tmp_path / new_job_id()
        work.mkdir()
        (work / "out.txt").write_text(output)
        (work / "emit.py").write_text(EMIT.format(pause="0.05" if slow else "0", exit_code=exit_code))
        spec = JobSpec(name="contract", command="python3 emit.py", workdir=str(work))
        return await self.backend.submit(spec, placement(), new_job_id())


def ssh_harness(request: pytest.FixtureRequest, tmp_path: Path) -> SshHarness:
    request.getfixturevalue("monkeypatch").delenv("SSH_AUTH_SOCK", raising=False)  # the test key only
    return SshHarness(tmp_path, lab(request.config))
