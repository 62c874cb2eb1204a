"""The embedded pool: a Ray head on 127.0.0.1 that only its owner can use, started on demand.

Reachable by its owner only:
- every listener binds to loopback: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` makes Ray's
  `get_node_ip_address()` answer 127.0.0.1 instead of swapping loopback for the machine's
  address (ray/_private/services.py), so GCS, raylet, agents, Ray Client and workers bind there;
- every listener that runs code wants Ray's token (`RAY_AUTH_MODE=token`,
  `RAY_AUTH_TOKEN_PATH`): 256 random bits in a 0600 file in accelctl's 0700 state dir, made
  fresh at each start. The token never goes into an environment variable (every worker would
  inherit it), onto a command line, into the state file or into any output;
- Ray makes its session and log dirs 0777, and when a log-tail websocket fails its handshake
  (an unknown job) the dashboard logs the request headers, the token included, to
  `logs/dashboard.log`: its `--temp-dir` lives inside a 0700 dir of ours.

Stopping: the head runs as `ray start --head --block` in its own session. Unfinished jobs are
stopped through the Jobs API first, then SIGTERM to the head drains and removes every process
it started (about 5 s here, with or without a job; SIGTERM alone takes ~30 s with a job
running). Whatever is left after `STOP_GRACE_S` gets SIGKILL. `ray stop` is never used: it
kills every Ray process on the machine, other users' included.

The state file (address, pid, token file, temp dir; never the token) lets later commands find
the running head.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelctl import paths
from accelctl.errors import AccelctlError

START_TIMEOUT_S = 120
STOP_GRACE_S = 35
ORPHAN_GRACE_S = 5
# Unix socket paths must stay within 107 bytes; Ray's longest is
# TEMP/session_2026-11-28_07-57-27_155585_1234567/sockets/dash_MetricsHead (TEMP + 68).
_MAX_TEMP_DIR = 38

# The environment that keeps a Ray process of this pool on loopback and behind the token;
# `auth_env` adds the token file. A driver (`ray.init`) given the pool's 127.0.0.1 GCS address
# needs it too, else Ray swaps 127.0.0.1 for the machine's address. (`ray start --address`
# refuses to join a node with it: tests/conftest.py shows the way around for a test node.)
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def auth_env(token_file: Path) -> dict[str, str]:
    """Environment variables that make a Ray process use token auth with `token_file`."""
    return {**LOOPBACK_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


class LocalRay:
    """Start, find and stop the local pool's Ray head. Building one has no side effects."""

    def __init__(self, state_file: Path | None = None, temp_dir: Path | None = None) -> None:
        self.state_file = state_file or paths.state_dir() / "local-pool.json"
        self.temp_dir = temp_dir or _default_temp_dir()
        # The state dir is made 0700 at start; the token file sits next to the state file.
        self.token_file = self.state_file.with_name("local-pool.token")

    def token(self) -> str:
        """The pool's token, read from `token_file`.

        Raises AccelctlError when the file is missing or others could read it.
        """
        try:
            info = os.stat(self.token_file)
            text = self.token_file.read_text().strip()
        except OSError as exc:
            raise AccelctlError(f"cannot read the local pool's token file {self.token_file}: {exc.strerror}",
                                "`accelctl local start` makes a new one") from None
        if info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise AccelctlError(f"the local pool's token file {self.token_file} is readable by others",
                                "`accelctl local stop` and `accelctl local start` make a new one")
        return text

    def write_secrets(self, submission_id: str, text: str) -> Path:
        """Keep a job's secret env (shell exports) in a 0600 file of the pool's private state
        dir until the job's entrypoint reads and removes it; returns its path."""
        folder = self.state_file.parent / "job-env"
        _private_dir(self.state_file.parent)
        _private_dir(folder)
        path = folder / submission_id
        _write_private(path, text)
        return path

    def drop_secrets(self, submission_id: str) -> None:
        """Remove a job's secret env file if its entrypoint has not (the job never started)."""
        (self.state_file.parent / "job-env" / Path(submission_id).name).unlink(missing_ok=True)

    def status(self) -> dict[str, Any] | None:
        """The running head's details, or None: {address, token_file, pid, temp_dir,
        ray_version, gcs_address, client_address, started_at}. Never the token."""
        state = self._state()
        if state is None or not _head_runs(state):
            return None
        try:
            token = self.token()
        except AccelctlError:
            return None
        version = _api_json(f"{state.get('address', '')}/api/version", token)
        return {**state, "ray_version": version.get("ray_version")} if version else None

    def running_jobs(self) -> list[str]:
        """Submission ids of the jobs not yet finished on the running head ([] when none runs)."""
        state = self.status()
        if state is None:
            return []
        jobs = _api_json(f"{state['address']}/api/jobs/", self.token(), timeout=5)
        if not isinstance(jobs, list):
            return []
        return [str(j.get("submission_id") or j.get("job_id")) for j in jobs
                if isinstance(j, dict) and j.get("status") in ("PENDING", "RUNNING")]

    def ensure_started(self, progress: Callable[[str], None] | None = None) -> str:
        """The head's address; starts it first when it is not running. Two commands that
        both find it stopped start it once: the second waits for the first.

        Always under the lock, even to find it running: a head being started answers
        /api/version (so `status` sees it) seconds before its node is registered, and a
        submission in between would be refused for want of a node. The starter holds the
        lock until the head is ready.
        """
        _private_dir(self.state_file.parent)
        lock = os.open(self.state_file.with_name("local-pool.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            running = self.status()
            if running:
                return str(running["address"])
            state = self._state()
            if state and _head_runs(state):  # up, but too busy to answer within status()'s timeout
                return self._wait_until_ready(str(state.get("address", "")))
            return self.start(progress)
        finally:
            os.close(lock)

    def _wait_until_ready(self, address: str) -> str:
        """`address` once the running head's node is registered; AccelctlError after
        START_TIMEOUT_S. A head that runs is never replaced here: its jobs would end with it."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _agent_ready(address, self.token()):
            if time.monotonic() > deadline:
                raise AccelctlError(f"the local pool runs but does not answer at {address}",
                                    "`accelctl local stop` stops it; the next job starts a new one")
            time.sleep(0.25)
        return address

    def start(self, progress: Callable[[str], None] | None = None) -> str:
        """Start a head and wait until its Jobs API answers; return its address.

        Raises AccelctlError when a head of this pool is still running (its token would be
        replaced) or when the head does not come up within START_TIMEOUT_S.
        """
        say = progress or (lambda _: None)
        state = self._state()
        if state and _head_runs(state):
            raise AccelctlError(f"the local pool is already running (pid {state['pid']})",
                                "`accelctl local stop` first")
        if len(str(self.temp_dir)) > _MAX_TEMP_DIR:
            raise AccelctlError(f"the local pool's temp dir {self.temp_dir} is too long for Unix sockets",
                                f"use one of at most {_MAX_TEMP_DIR} characters")
        _private_dir(self.state_file.parent)
        _private_dir(self.temp_dir.parent)
        _write_private(self.token_file, secrets.token_hex(32))

        ports = _free_ports(9)
        address = f"http://127.0.0.1:{ports[1]}"
        command = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={ports[0]}", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports[1]}", f"--ray-client-server-port={ports[2]}",
            f"--dashboard-agent-listen-port={ports[3]}", f"--dashboard-agent-grpc-port={ports[4]}",
            f"--runtime-env-agent-port={ports[5]}", f"--node-manager-port={ports[6]}",
            f"--object-manager-port={ports[7]}", f"--metrics-export-port={ports[8]}",
            "--include-dashboard=true", "--disable-usage-stats", f"--temp-dir={self.temp_dir}",
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_ADDRESS")}
        env.update({"RAY_USAGE_STATS_ENABLED": "0", **auth_env(self.token_file)})
        say(f"starting the local Ray pool on 127.0.0.1 (session files in {self.temp_dir})")
        started = time.monotonic()
        head_log = self.temp_dir.parent / "head.log"
        with open(os.open(head_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log:
            head = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        _write_private(self.state_file, json.dumps({
            "address": address, "gcs_address": f"127.0.0.1:{ports[0]}",
            "client_address": f"ray://127.0.0.1:{ports[2]}", "pid": head.pid,
            "token_file": str(self.token_file), "temp_dir": str(self.temp_dir), "started_at": time.time(),
        }))
        token = self.token()
        while not _agent_ready(address, token):
            if head.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise AccelctlError(f"the local Ray pool did not start: {_last_line(head_log)}",
                                    f"see {head_log} and {self.temp_dir}/session_latest/logs")
            if time.monotonic() - started > START_TIMEOUT_S:
                self.stop()
                raise AccelctlError(f"the local Ray pool did not answer at {address} in {START_TIMEOUT_S} s",
                                    f"see {head_log}")
            time.sleep(0.25)
        say(f"local Ray pool ready at {address} ({time.monotonic() - started:.1f} s)")
        return address

    def stop(self) -> bool:
        """Stop the head and every process it started; True if one was recorded.

        Jobs still running on the pool are ended: stopped through the Jobs API first (Ray
        then drains in seconds instead of half a minute), then with the head. Returns once
        nothing of the pool runs (SIGTERM to the head, SIGKILL to what is left after
        STOP_GRACE_S; when the head itself died, SIGTERM to each of its processes, then
        SIGKILL after ORPHAN_GRACE_S).
        """
        state = self._state()
        if state is None:
            return False
        pid, temp_dir = int(state.get("pid", 0)), str(state.get("temp_dir", ""))
        head = pid if _head_runs(state) else 0
        if head:
            self._stop_jobs(str(state.get("address", "")))
        # Job entrypoints run in sessions of their own: remember the whole tree before the
        # head goes, or a job whose supervisor died first could not be found any more.
        tracked = {p: _start_time(p) for p in self._processes(head, pid, temp_dir)}
        if head:
            _signal(head, signal.SIGTERM)
        else:  # the head died: nobody drains the rest, so each process gets the signal itself
            for orphan in tracked:
                _signal(orphan, signal.SIGTERM)
        deadline = time.monotonic() + (STOP_GRACE_S if head else ORPHAN_GRACE_S)
        while time.monotonic() < deadline and self._leftovers(head, pid, temp_dir, tracked):
            time.sleep(0.2)
        victims = self._leftovers(head, pid, temp_dir, tracked)
        for victim in victims:
            _signal(victim, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(v) for v in victims):
            time.sleep(0.05)
        self.state_file.unlink(missing_ok=True)
        return True

    def _stop_jobs(self, address: str, wait_s: float = 15) -> None:
        """Ask the Jobs API to stop every unfinished job; wait (bounded) until they have."""
        try:
            token = self.token()
        except AccelctlError:
            return
        jobs = self.running_jobs()
        for job in jobs:
            _api_json(f"{address}/api/jobs/{job}/stop", token, timeout=5, method="POST")
        deadline = time.monotonic() + wait_s
        while jobs and time.monotonic() < deadline and self.running_jobs():
            time.sleep(0.2)

    def _processes(self, head: int, session_id: int, temp_dir: str) -> set[int]:
        """The pool's live processes: the head (0: gone), processes naming its temp dir,
        processes of the head's session (`session_id`, the recorded pid; it outlives a head that
        crashed) that carry this pool's token path, and all their descendants."""
        marker = f"RAY_AUTH_TOKEN_PATH={self.token_file}".encode()
        table = _process_table()
        roots = {head} if head else set()
        for p, (_, session, cmdline) in table.items():
            names_temp_dir = bool(temp_dir) and temp_dir.encode() in cmdline
            if names_temp_dir or (session_id > 0 and session == session_id and _has_env(p, marker)):
                roots.add(p)
        return _with_descendants(roots, table) - {os.getpid()}

    def _leftovers(self, head: int, session_id: int, temp_dir: str, tracked: dict[int, str]) -> list[int]:
        found = self._processes(head, session_id, temp_dir)
        found |= {p for p, started in tracked.items() if started and _start_time(p) == started}
        return sorted(p for p in found if _alive(p))

    def _state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None


def _default_temp_dir() -> Path:
    """Ray's temp dir, inside a dir of ours: the cache dir, unless that path is too long for
    Unix sockets; then a per-user dir in the system temp dir."""
    preferred = paths.cache_dir() / "ray"
    if len(str(preferred)) <= _MAX_TEMP_DIR:
        return preferred
    return Path(tempfile.gettempdir()) / f"accelctl-{os.getuid()}" / "ray"


def _private_dir(path: Path) -> None:
    """Make `path` a dir only this user can enter: create it 0700, or check an existing one is
    ours and not a link, and take others' access away."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise AccelctlError(f"{path} is not a directory of this user",
                            "remove it; accelctl keeps the local pool's private files there")
    if info.st_mode & stat.S_ISVTX:
        raise AccelctlError(f"{path} is a shared directory", "choose a directory of your own")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as a 0600 file, replacing it atomically."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _api_json(url: str, token: str, timeout: float = 2, method: str = "GET") -> Any:
    """`method` `url` with the pool's token; the decoded JSON, or None when it does not answer."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except (OSError, ValueError, urllib.error.HTTPError):
        return None


def _agent_ready(address: str, token: str) -> bool:
    """The head's job agent is registered (else submissions get "No available agent")."""
    answer = _api_json(f"{address}/api/v0/nodes?limit=10", token, timeout=5)
    try:
        return any(n.get("state") == "ALIVE" for n in answer["data"]["result"]["result"])
    except (TypeError, KeyError):
        return False


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip() if lines else "no output"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]; [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """When `pid` started (clock ticks since boot): tells a process from a later one with its pid."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""


def _process_table() -> dict[int, tuple[int, int, bytes]]:
    """pid -> (parent pid, session id, command line) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if len(fields) > 3:
            table[pid] = (int(fields[1]), int(fields[3]), cmdline)
    return table


def _with_descendants(roots: set[int], table: dict[int, tuple[int, int, bytes]]) -> set[int]:
    found = set(roots)
    while True:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in found} - found
        if not children:
            return found
        found |= children


def _has_env(pid: int, entry: bytes) -> bool:
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _head_runs(state: dict[str, Any]) -> bool:
    pid = int(state.get("pid", 0))
    return _alive(pid) and _is_our_head(pid, str(state.get("temp_dir", "")))


def _is_our_head(pid: int, temp_dir: str) -> bool:
    """`pid` is still the recorded head (not a recycled pid): its command line names the temp dir."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return bool(temp_dir) and f"--temp-dir={temp_dir}" in cmdline


def _alive(pid: int) -> bool:
    """`pid` runs and is not a zombie."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"
