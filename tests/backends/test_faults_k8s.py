"""Fault injection on Kubernetes: a TCP proxy (tests/faults/proxy.py) between `accelctl logs -f`
and the test API server (tests/kubeapi, HTTPS: TLS passes through the proxy untouched) cuts
connections at random points while a job prints; the output must be exact, every reconnect
reported once, the exit code right. A stalled connection is detected and resumed. A server
that goes away mid-follow ends the follow with one line and exit 1; the job stays recorded.

Sizes are constants (tests/faults/cli.py): LINES numbered lines, two of 1.1 MB, some with
"\\r", the last without a newline; CUTS cuts per run; the seed is printed
(ACCELCTL_FAULT_SEED replays it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelctl.backends import streams
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
from tests.kubeapi.server import CONTEXT, KubeAPIServer

pytestmark = pytest.mark.timeout(300)

PRINT_S = 35  # the job prints its output over about this long (the cuts need about 30 s of it)
# A follow whose server is gone ends within this: streams.GONE_AFTER_S of retries, plus a
# reconnect delay and a CLI start (a refused connection fails at once).
GONE_BOUND_S = streams.GONE_AFTER_S + 8


@dataclass
class Kube:
    """The test API server behind a fault proxy; $KUBECONFIG and the `faulty` pool reach it
    through the proxy."""

    server: KubeAPIServer
    proxy: FaultProxy
    kubeconfig: Path
    tmp_path: Path

    def point_kubeconfig(self) -> None:
        """(Re)write the kubeconfig for the current server (its CA and token), with the proxy
        as the server's address."""
        self.server.write_kubeconfig(self.kubeconfig)
        config = json.loads(self.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{self.proxy.port}"
        self.kubeconfig.write_text(json.dumps(config))

    def job_spec(self, output: str, seconds: float, exit_code: int = 0) -> Path:
        script = write_emitter(self.tmp_path / "work", output, seconds, exit_code)
        spec = self.tmp_path / "job.yaml"
        spec.write_text(f"name: faulty\nimage: python:3.12-slim\ncommand: [python3, '{script}']\npool: faulty\n")
        return spec

    def pod_phase(self) -> str | None:
        pods, _ = self.server.store.list("pods", "default")
        return pods[0]["status"].get("phase") if pods else None


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    server = KubeAPIServer().start()
    proxy = FaultProxy("127.0.0.1", server.port, fault_seed())
    kube = Kube(server, proxy, tmp_path / "kubeconfig", tmp_path)
    kube.point_kubeconfig()
    overlay = tmp_path / "faulty-pools.yaml"
    overlay.write_text(f"pools:\n  - {{name: faulty, backend: kubernetes, context: {CONTEXT}, namespace: default,"
                       " accelerator: cpu}\n")
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    yield kube
    proxy.close()
    kube.server.stop()


def test_cut_connections_lose_and_repeat_nothing(kube: Kube) -> None:
    output = job_output()
    job_id = submit(kube.job_spec(output, PRINT_S))
    proxy = kube.proxy
    code, out, err = follow_while_cutting(proxy, job_id, lambda: kube.pod_phase() == "Running")
    assert code == 0, err
    assert_exact(out, output)
    assert len(proxy.cuts) >= CUTS
    # One line per reconnect, never more than one per cut. A cut of a status reply is retried
    # by the client on its own (no reconnect, no line), and cuts while the pool is already
    # being retried belong to that one reconnect: fewer lines than cuts is right.
    notices = reconnect_notices(err)
    assert CUTS // 2 <= len(notices) <= len(proxy.cuts)
    assert "Traceback" not in err


def test_a_stalled_connection_is_detected_and_resumed(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy stops forwarding (sockets open) for longer than the stall time: the silent
    stream is dropped within STALL_S, reported, and resumed exactly once the stall ends."""
    output = "".join(f"line {i}\n" for i in range(3000)) + "the end"
    job_id = submit(kube.job_spec(output, seconds=10, exit_code=5))
    wait_until(lambda: kube.pod_phase() == "Running", 60, "the pod to run")
    code, out, stalls = follow_through_a_stall(kube.proxy, job_id, monkeypatch)
    assert out == output
    assert code == 3  # the job exited 5: accelctl's "job failed"
    assert len(stalls) == 1, stalls
    assert STALL_S - 0.5 <= stalls[0] <= STALL_S + STALL_SLACK_S  # this stall, not a quiet job


def test_a_server_gone_mid_follow_ends_it_and_the_job_stays_listed(kube: Kube) -> None:
    """The API server stops (its pods with it) while `accelctl logs -f` follows: within
    GONE_BOUND_S the follow exits 1 with one error line; `accelctl jobs` still lists the job,
    while the server is away and after one is back (the test server keeps its objects in
    memory, so the one that comes back no longer knows the job: shown UNKNOWN, lost)."""
    job_id = submit(kube.job_spec("".join(f"tick {i}\n" for i in range(1200)), seconds=120))
    live = threading.Event()
    gone_at: list[float] = []

    def stop_the_server() -> None:
        live.wait(120)
        kube.proxy.down()  # nothing answers on the server's address any more
        kube.server.stop()
        gone_at.append(time.monotonic())

    stopper = threading.Thread(target=stop_the_server)
    stopper.start()
    code, out, err, _ = follow(job_id, live)
    ended_at = time.monotonic()
    stopper.join()
    assert code == 1, err
    print(f"the follow ended {ended_at - gone_at[0]:.1f} s after the server went")
    assert ended_at - gone_at[0] <= GONE_BOUND_S
    assert out.startswith(b"tick 0\n")
    assert_one_error_line(err, "cannot reach")

    away = listed_json(job_id)  # the server away: its last known state, and why it is not current
    assert away["state"] in ("PENDING", "RUNNING") and "cannot reach" in away["note"], away

    kube.server = KubeAPIServer().start()
    kube.proxy.target_port = kube.server.port
    kube.point_kubeconfig()  # a new server: its own CA and token
    kube.proxy.up()
    back = listed_json(job_id)  # a server that answers but has no such job: the job is lost
    assert back["state"] == "UNKNOWN" and "has no job" in back["message"] and job_id in back["message"], back
    table = run_cli("jobs")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.decode().splitlines() if line.startswith(job_id))
    assert "UNKNOWN" in row
