"""Fault injection on SSH: a TCP proxy (tests/faults/proxy.py) between `accelctl logs -f` and a
real sshd (tests/backends/sshd.py) cuts the connection at random points while a job prints;
the output must be exact, every reconnect reported once, the exit code right. A stalled
connection is detected and resumed. A host that goes away mid-follow ends the follow with one
line and exit 1; the job stays recorded, and reads as lost once the host is back.

Sizes are constants (tests/faults/cli.py): LINES numbered lines, two of 1.1 MB, some with
"\\r", the last without a newline; CUTS cuts per run; the seed is printed
(ACCELCTL_FAULT_SEED replays it). One SSH connection carries the log tail and every status
command, so each cut drops the tail.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelctl.backends import streams
from tests.backends.sshd import Lab, lab
from tests.faults.cli import (
    CUTS,
    STALL_S,
    STALL_SLACK_S,
    assert_exact,
    assert_one_error_line,
    fault_seed,
    follow,
    follow_through_a_stall,
    follow_while_cutting,
    job_output,
    listed_json,
    reconnect_notices,
    run_cli,
    submit,
    wait_until,
    write_emitter,
)
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.timeout(300)

PRINT_S = 30  # the job prints its output over about this long (the cuts need about 20 s of it)
# A follow whose host is gone ends within this: streams.GONE_AFTER_S of retries, plus a
# reconnect delay and a CLI start (a refused connection fails at once).
GONE_BOUND_S = streams.GONE_AFTER_S + 8


@dataclass
class Host:
    """lab0's sshd behind a fault proxy; the `faulty` pool reaches it as host `faulty0`."""

    proxy: FaultProxy
    tmp_path: Path

    @property
    def remote(self) -> Path:
        return self.tmp_path / "remote"  # the pool's workdir: jobs' directories on the host

    def job_spec(self, output: str, seconds: float, exit_code: int = 0) -> Path:
        work = self.tmp_path / "work"
        write_emitter(work, output, seconds, exit_code)
        spec = self.tmp_path / "job.yaml"
        spec.write_text(f"name: faulty\ncommand: python3 emit.py\nworkdir: {work}\npool: faulty\n")
        return spec

    def job_dir(self) -> Path:
        [directory] = self.remote.glob("*/0")
        return directory

    def running(self) -> bool:
        """The job has started and not yet ended (its `exit` file is written at the end)."""
        found = list(self.remote.glob("*/0/pid"))
        return bool(found) and not (found[0].parent / "exit").exists()


@pytest.fixture
def host(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # the lab's key only, never an agent's
    the_lab: Lab = lab(request.config)
    proxy = FaultProxy("127.0.0.1", the_lab.servers[0].port, fault_seed())
    config = tmp_path / "ssh_config"
    config.write_text(f"Host faulty0\n  HostName 127.0.0.1\n  Port {proxy.port}\n  User root\n"
                      f"  IdentityFile {the_lab.key}\n")
    known = tmp_path / "known_hosts"  # lab0's key, at the proxy's address
    known.write_text(f"[127.0.0.1]:{proxy.port} {' '.join(the_lab.servers[0].host_pub.split()[:2])}\n")
    known.chmod(0o600)
    overlay = tmp_path / "faulty-pools.yaml"
    overlay.write_text(f"pools:\n  - {{name: faulty, backend: ssh, hosts: [faulty0], accelerator: cpu,"
                       f" ssh_config: '{config}', known_hosts: '{known}', workdir: '{tmp_path / 'remote'}'}}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    yield Host(proxy, tmp_path)
    proxy.close()


def test_cut_connections_lose_and_repeat_nothing(host: Host) -> None:
    output = job_output()
    job_id = submit(host.job_spec(output, PRINT_S))
    proxy = host.proxy
    code, out, err = follow_while_cutting(proxy, job_id, host.running)
    assert code == 0, err
    assert_exact(out, output)
    assert len(proxy.cuts) >= CUTS
    # One line per reconnect of the stream, never more than one per cut. A cut that lands in a
    # status command or a handshake is retried inside the backend (`SshBackend._run` reconnects
    # once) and the stream goes on: no reconnect, no line. How many land there depends on the
    # seed (about half seen at worst).
    notices = reconnect_notices(err)
    assert CUTS // 4 <= len(notices) <= len(proxy.cuts)
    assert "Traceback" not in err


def test_a_stalled_connection_is_detected_and_resumed(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy stops forwarding (socket open) for longer than the stall time: the silent
    stream is dropped within STALL_S, reported, and resumed exactly once the stall ends."""
    output = "".join(f"line {i}\n" for i in range(3000)) + "the end"
    job_id = submit(host.job_spec(output, seconds=10, exit_code=5))
    wait_until(host.running, 60, "the job to start")
    code, out, stalls = follow_through_a_stall(host.proxy, job_id, monkeypatch)
    assert out == output
    assert code == 3  # the job exited 5: accelctl's "job failed"
    assert len(stalls) == 1, stalls
    assert STALL_S - 0.5 <= stalls[0] <= STALL_S + STALL_SLACK_S  # this stall, not a quiet job


def test_a_host_gone_mid_follow_ends_it_and_the_job_reads_lost(host: Host) -> None:
    """The host goes away (its address refuses, its processes die) while `accelctl logs -f`
    follows: within GONE_BOUND_S the follow exits 1 with one error line; `accelctl jobs` still
    lists the job while the host is away, and once it is back, as lost (no exit code)."""
    job_id = submit(host.job_spec("".join(f"tick {i}\n" for i in range(1200)), seconds=120))
    live = threading.Event()
    gone_at: list[float] = []

    def take_the_host_down() -> None:
        live.wait(120)
        host.proxy.down()
        # The host died with its processes: the job (our child's session, by the pid it wrote).
        os.killpg(int((host.job_dir() / "pid").read_text()), signal.SIGKILL)
        gone_at.append(time.monotonic())

    stopper = threading.Thread(target=take_the_host_down)
    stopper.start()
    code, out, err, _ = follow(job_id, live)
    ended_at = time.monotonic()
    stopper.join()
    assert code == 1, err
    print(f"the follow ended {ended_at - gone_at[0]:.1f} s after the host went")
    assert ended_at - gone_at[0] <= GONE_BOUND_S
    assert out.startswith(b"tick 0\n")
    assert_one_error_line(err, "faulty0")

    away = listed_json(job_id)  # the host away: its last known state, and why it is not current
    assert away["state"] in ("PENDING", "RUNNING") and "faulty0" in away["note"], away

    host.proxy.up()
    back = listed_json(job_id)
    assert back["state"] in ("FAILED", "UNKNOWN") and "lost" in back["message"], back
    table = run_cli("jobs", "--all")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.decode().splitlines() if line.startswith(job_id))
    assert back["state"] in row
