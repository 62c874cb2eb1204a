"""SSH pool speed on two loopback sshd (the test suite's lab), beside the OpenSSH client.

    python bench/bench_ssh.py [--runs N] [--lines N]

1. submit -> first line: the ssh backend from a fresh connection (connect, upload the
   launcher, start detached, follow) vs `ssh -F CONFIG lab0 'echo first'` with the
   OpenSSH client; median of N runs, ratio (budget <= 1.5x);
2. follow throughput of a job that writes N numbered lines (budget >= 200,000 lines/s);
3. probing 2 hosts vs 1 (budget <= 1.3x).

`--login-rc` lets the lab's bash source this machine's ~/.bashrc for every command, as it
does by default for sshd (see tests/backends/sshd.py `lab`): both lab hosts then pay it on
the same CPUs, which real hosts do not.

Needs sshd (apt-get install openssh-server); runs as a user who may start it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accelctl.backends.ssh import SshBackend  # noqa: E402
from accelctl.backends.ssh_conn import SshSettings  # noqa: E402
from accelctl.core.inventory import load_inventory  # noqa: E402
from accelctl.core.jobspec import JobSpec  # noqa: E402
from accelctl.core.models import SshPool  # noqa: E402
from accelctl.core.placement import Placement  # noqa: E402
from accelctl.core.store import new_job_id  # noqa: E402
from tests.backends.sshd import Lab, lab  # noqa: E402


class _Config:
    """What `lab()` needs of pytest's config: somewhere to register its cleanup."""

    def __init__(self) -> None:
        self.cleanups: list[Any] = []

    def add_cleanup(self, fn: Any) -> None:
        self.cleanups.append(fn)


def backend(the_lab: Lab, work: Path, hosts: tuple[str, ...] = ("lab0",)) -> SshBackend:
    return SshBackend("bench", hosts, SshSettings(ssh_config=str(the_lab.ssh_config),
                                                  known_hosts=str(the_lab.known_hosts)), workdir=str(work))


def placement(nodes: int = 1) -> Placement:
    return Placement(SshPool(name="bench", accelerator="cpu", hosts=("lab0", "lab1")[:nodes], nodes=nodes),
                     "cpu", 1, nodes)


def openssh_first(the_lab: Lab) -> float:
    started = time.perf_counter()
    out = subprocess.run(["ssh", "-F", str(the_lab.ssh_config), "-o", f"UserKnownHostsFile={the_lab.known_hosts}",
                          "-o", "BatchMode=yes", "lab0", "echo first"], capture_output=True, text=True, check=True)
    assert out.stdout == "first\n"
    return time.perf_counter() - started


async def accelctl_first(the_lab: Lab, work: Path) -> float:
    started = time.perf_counter()
    b = backend(the_lab, work)  # a fresh connection, as a new process would make
    backend_id = await b.submit(JobSpec(name="first", command="echo first"), placement(), new_job_id())
    async for batch in b.logs(backend_id, follow=True):
        assert batch.lines[0] == "first"
        break
    elapsed = time.perf_counter() - started
    b.connections.close()
    return elapsed


async def follow_rate(the_lab: Lab, work: Path, lines: int) -> float:
    b = backend(the_lab, work)
    backend_id = await b.submit(JobSpec(name="many", command=f"seq 1 {lines}"), placement(), new_job_id())
    started = time.perf_counter()
    seen = 0
    async for batch in b.logs(backend_id, follow=True):
        seen += len(batch.lines)
    assert seen == lines, seen
    return lines / (time.perf_counter() - started)


async def probe_time(the_lab: Lab, work: Path, hosts: tuple[str, ...], accelerators: list[Any]) -> float:
    b = backend(the_lab, work, hosts)
    started = time.perf_counter()
    results = await b.probe_accelerators(accelerators)
    assert all(r.ok for r in results)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--login-rc", action="store_true", help="sessions source ~/.bashrc (see above)")
    args = parser.parse_args()
    config = _Config()
    the_lab = lab(config, login_rc=args.login_rc)  # type: ignore[arg-type]
    try:
        with tempfile.TemporaryDirectory(prefix="accelctl-bench-ssh-") as tmp:
            work = Path(tmp)
            ssh_times = [openssh_first(the_lab) for _ in range(args.runs)]
            ours = [await accelctl_first(the_lab, work) for _ in range(args.runs)]
            ssh_med, our_med = statistics.median(ssh_times), statistics.median(ours)
            print(f"submit -> first line: accelctl {our_med * 1000:.0f} ms, `ssh host 'echo first'` "
                  f"{ssh_med * 1000:.0f} ms, ratio {our_med / ssh_med:.2f}x (budget <= 1.5x)")
            rate = await follow_rate(the_lab, work, args.lines)
            print(f"follow: {rate:,.0f} lines/s over {args.lines:,} lines (budget >= 200,000)")
            accelerators = list(load_inventory().accelerators)
            one = statistics.median([await probe_time(the_lab, work, ("lab0",), accelerators)
                                     for _ in range(args.runs)])
            two = statistics.median([await probe_time(the_lab, work, ("lab0", "lab1"), accelerators)
                                     for _ in range(args.runs)])
            print(f"probe: 1 host {one * 1000:.0f} ms, 2 hosts {two * 1000:.0f} ms, ratio {two / one:.2f}x "
                  "(budget <= 1.3x)")
    finally:
        for cleanup in config.cleanups:
            cleanup()


if __name__ == "__main__":
    asyncio.run(main())
