"""What the fault suites of the backends share: the job's output, a job that prints it paced,
`accelctl` run as a user runs it, and the reading of its stderr."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.proxy import FaultProxy

CUTS = 20  # per run and backend
STALL_S = 2.0  # streams.STALL_S in the stall tests
STALL_SLACK_S = 1.5  # a stall is reported within STALL_S and this
LINES = 200_000
BIG = {50_000, 150_000}  # these lines are 1.1 MB long
FOLLOW_TIMEOUT_S = 240  # a follow still running after this hangs: the test fails rather than waits on
NOTICE_PREFIXES = ("accelctl: log stream dropped", "accelctl: log stream closed", "accelctl: pool did not answer")


def fault_seed() -> int:
    """The run's seed: $ACCELCTL_FAULT_SEED, else a new one; printed, so a failure replays."""
    seed = int(os.environ.get("ACCELCTL_FAULT_SEED") or random.randrange(2**32))
    print(f"fault seed: {seed} (replay: ACCELCTL_FAULT_SEED={seed})")
    return seed


def job_output(lines: int = LINES, big: set[int] = BIG) -> str:
    """Numbered lines, `big` ones 1.1 MB long, some with a "\\r" progress update, the last
    without a newline."""
    parts = []
    for i in range(lines):
        if i in big:
            parts.append("x" * 1_100_000 + f" big {i}\n")
        elif i % 20_000 == 7:
            parts.append(f"progress {i} 10%\rprogress {i} 100%\n")
        else:
            parts.append(f"line {i:06d}\n")
    return "".join(parts) + "the end, no newline"


def write_emitter(directory: Path, output: str, seconds: float, exit_code: int = 0) -> Path:
    """A script in `directory` that prints `output` in pieces (at most 64 KiB, at least 200 of
    them) over about `seconds`, so that faults land while the job prints and the stream is
    never silent for long; then it exits `exit_code`. Paths inside it are absolute: the
    Kubernetes test server runs it wherever its pods run."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "out.txt").write_text(output)
    script = directory / "emit.py"
    script.write_text(
        "import sys, time\n"
        f"text = open({str(directory / 'out.txt')!r}, newline='').read()\n"
        "step = max(1, min(64 * 1024, len(text) // 200))\n"
        f"pause = {seconds} / (len(text) / step)\n"
        "time.sleep(1)\n"
        "for i in range(0, len(text), step):\n"
        "    sys.stdout.write(text[i:i + step]); sys.stdout.flush(); time.sleep(pause)\n"
        f"sys.exit({exit_code})\n")
    return script


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """`accelctl ARGS` in a fresh interpreter, output as bytes (exact, "\\r" included)."""
    return subprocess.run([sys.executable, "-m", "accelctl.cli.main", *args], capture_output=True, timeout=timeout)


def submit(spec: Path) -> str:
    """Submit `spec` detached; the job's id."""
    done = run_cli("submit", "--detach", str(spec))
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def follow(job_id: str, on_output: threading.Event | None = None) -> tuple[int, bytes, str, float]:
    """`accelctl logs -f JOB` in a new process: (exit code, stdout, stderr, seconds it took);
    `on_output` is set once stdout has brought something."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "accelctl.cli.main", "logs", "-f", job_id],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: list[bytes] = []
    errors: list[bytes] = []

    def read_out() -> None:
        assert process.stdout
        while data := process.stdout.read1(1 << 16):  # type: ignore[attr-defined]
            chunks.append(data)
            if on_output is not None:
                on_output.set()

    def read_err() -> None:
        assert process.stderr
        errors.append(process.stderr.read())

    readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for reader in readers:
        reader.start()
    try:
        code = process.wait(timeout=FOLLOW_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()  # ours: the readers below would wait on it forever
        for reader in readers:
            reader.join()
    return code, b"".join(chunks), b"".join(errors).decode(), time.monotonic() - started


def reconnect_notices(err: str) -> list[str]:
    """The lines on stderr that report a reconnect (or a retry while the pool did not answer)."""
    return [line for line in err.splitlines() if line.startswith(NOTICE_PREFIXES)]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)


def assert_exact(out: bytes, expected: str) -> None:
    """`out` is `expected` byte for byte; else say where they part (a 200,000-line diff says nothing)."""
    want = expected.encode()
    if out == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(out, want, strict=False)) if a != b), min(len(out), len(want)))
    raise AssertionError(f"output differs at byte {at} of {len(want)} (got {len(out)} bytes): "
                         f"got {out[max(0, at - 60):at + 60]!r}, want {want[max(0, at - 60):at + 60]!r}")


def drive_cuts(proxy: FaultProxy, cuts: int, seed: int, running: Callable[[], bool]) -> threading.Thread:
    """A thread that makes `cuts` cuts while `running()` (the job prints): a quarter where a
    random reply-byte budget falls (a handshake, a status reply, a reconnect's replay), the
    rest mid-stream on the busiest connection, one after another at seeded intervals.

    Byte budgets alone cannot be counted on here: a resumed stream carries about the job's
    output once, so budgets small enough for twenty cuts would never let a 1.1 MB line through.
    """
    rng = random.Random(seed + 1)  # not the proxy's: its draws stay those of the seed

    def run() -> None:
        proxy.cuts_left = cuts // 4
        while len(proxy.cuts) < cuts and running():
            time.sleep(rng.uniform(0.1, 0.5))
            before = len(proxy.cuts)
            if proxy.cut_busiest():
                deadline = time.monotonic() + 10
                while len(proxy.cuts) == before and running() and time.monotonic() < deadline:
                    time.sleep(0.02)
        proxy.cuts_left = 0

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def record_notices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """What an in-process follow says on stderr, each line with the time it was said."""
    from accelctl.cli import jobs

    said: list[tuple[float, str]] = []

    def say(message: str, *, reconnect: bool = False) -> None:
        said.append((time.monotonic(), message))

    monkeypatch.setattr(jobs, "say", say)
    return said


def follow_in_process(job_id: str) -> tuple[int, str]:
    """`accelctl logs -f JOB` in this process (so a test may shorten its timings): (exit code,
    stdout)."""
    import asyncio

    from accelctl.backends.jobs import job_log
    from accelctl.cli.jobs import _follow
    from accelctl.core.store import default_store

    record = default_store().get(job_id)
    out = io.StringIO(newline="")
    with contextlib.redirect_stdout(out):
        code = asyncio.run(_follow(record, job_log(record)))
    return code, out.getvalue()


def follow_while_cutting(proxy: FaultProxy, job_id: str, running: Callable[[], bool]) -> tuple[int, bytes, str]:
    """`accelctl logs -f JOB` while `drive_cuts` makes CUTS cuts, from the first output on for
    as long as `running()`: (exit code, stdout, stderr), the cuts printed for a replay."""
    live = threading.Event()

    def start_cutting() -> None:
        live.wait(120)  # the follow brings output: cut while the job prints
        drive_cuts(proxy, CUTS, proxy.seed, running).join()

    cutter = threading.Thread(target=start_cutting)
    cutter.start()
    code, out, err, took = follow(job_id, live)
    cutter.join()
    print(f"{len(proxy.cuts)} cuts in {took:.1f} s at reply bytes {[c.after_bytes for c in proxy.cuts]}")
    print(err)
    return code, out, err


def follow_through_a_stall(proxy: FaultProxy, job_id: str,
                           monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, list[float]]:
    """`accelctl logs -f JOB` in this process (streams.STALL_S set to STALL_S) while the proxy
    stops forwarding 3 s in, until the stall is reported: (exit code, stdout, seconds from the
    stall to each "stalled" notice)."""
    from accelctl.backends import streams

    monkeypatch.setattr(streams, "STALL_S", STALL_S)
    said = record_notices(monkeypatch)
    stalled_at: list[float] = []

    def stall_then_resume() -> None:
        time.sleep(3)
        proxy.stall()
        stalled_at.append(time.monotonic())
        wait_until(lambda: any("stalled" in m for _, m in said), STALL_S + STALL_SLACK_S + 5, "the stall notice",
                   every=0.05)
        proxy.resume()

    staller = threading.Thread(target=stall_then_resume)
    staller.start()
    code, out = follow_in_process(job_id)
    staller.join()
    return code, out, [at - stalled_at[0] for at, message in said if "stalled" in message]


def assert_one_error_line(err: str, says: str) -> None:
    """stderr ends the follow with one `accelctl: error:` line saying `says`, and has no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("accelctl: error:")]
    assert len(errors) == 1 and says in errors[0], err
    assert "Traceback" not in err


def listed_json(job_id: str) -> dict[str, str]:
    """`accelctl jobs --all -o json` exits 0 and lists the job: its entry."""
    done = run_cli("jobs", "--all", "-o", "json")
    assert done.returncode == 0, done.stderr
    [job] = [j for j in json.loads(done.stdout) if j["id"] == job_id]
    return dict(job)
