"""The embedded pool: a Ray head on 127.0.0.1, started on demand and reused.

Every port is a free one picked at start, so it never collides with another Ray on
the machine; usage stats are off; Ray's session files live in accelctl's cache dir.
The Jobs API (dashboard) listens on 127.0.0.1 only. Ray's internal ports (GCS,
raylet) follow Ray's own rule: it swaps a loopback node address for the machine's
address (`resolve_ip_for_localhost` in ray/_private/services.py), so those listen
beyond loopback.
The address is kept in the state dir so later commands find the running head.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from accelctl import paths
from accelctl.errors import AccelctlError

START_TIMEOUT_S = 120
# Unix socket paths under Ray's session dir must stay below ~107 bytes.
_MAX_TEMP_DIR = 48


class LocalRay:
    """Start, find and stop the local pool's Ray head."""

    def __init__(self, state_file: Path | None = None, temp_dir: Path | None = None) -> None:
        self.state_file = state_file or paths.state_dir() / "local-pool.json"
        self.temp_dir = temp_dir or _short_temp_dir()

    def status(self) -> dict[str, Any] | None:
        """The running head's details ({address, temp_dir, ray_version, ...}), or None."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        version = _api_version(state.get("address", ""))
        return {**state, "ray_version": version["ray_version"]} if version else None

    def ensure_started(self, progress: Callable[[str], None] | None = None) -> str:
        """The head's address; starts it first when it is not running."""
        running = self.status()
        if running:
            return running["address"]
        return self.start(progress)

    def start(self, progress: Callable[[str], None] | None = None) -> str:
        """Start a head and wait until its Jobs API answers; return its address."""
        say = progress or (lambda _: None)
        ports = _free_ports(9)
        address = f"http://127.0.0.1:{ports[1]}"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address=127.0.0.1",
            f"--port={ports[0]}", "--dashboard-host=127.0.0.1", f"--dashboard-port={ports[1]}",
            f"--ray-client-server-port={ports[2]}", f"--dashboard-agent-listen-port={ports[3]}",
            f"--dashboard-agent-grpc-port={ports[4]}", f"--runtime-env-agent-port={ports[5]}",
            f"--node-manager-port={ports[6]}", f"--object-manager-port={ports[7]}",
            f"--metrics-export-port={ports[8]}", "--include-dashboard=true", "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
        say(f"starting the local Ray pool on 127.0.0.1 (session files in {self.temp_dir})")
        started = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise AccelctlError(f"the local Ray pool did not start: {last[0]}",
                                f"see {self.temp_dir}/session_latest/logs")
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"address": address, "temp_dir": str(self.temp_dir),
                                               "gcs_port": ports[0], "started_at": time.time()}))
        while _api_version(address) is None or not _agent_ready(address):
            if time.monotonic() - started > START_TIMEOUT_S:
                raise AccelctlError(f"the local Ray pool started but its Jobs API at {address} does not answer",
                                    "run `accelctl local stop` and try again")
            time.sleep(0.25)
        say(f"local Ray pool ready at {address} ({time.monotonic() - started:.1f} s)")
        return address

    def stop(self) -> bool:
        """Stop the head and every process it started; True if one was running."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return False
        temp_dir = state.get("temp_dir", "")
        victims = _processes_under(temp_dir) if temp_dir else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in victims:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_alive(p) for p in victims):
                time.sleep(0.1)
            victims = [p for p in victims if _alive(p)]
            if not victims:
                break
        self.state_file.unlink(missing_ok=True)
        return True


def _short_temp_dir() -> Path:
    """Ray's session dir: in the cache dir, unless that path is too long for Unix sockets."""
    preferred = paths.cache_dir() / "ray"
    if len(str(preferred)) <= _MAX_TEMP_DIR:
        return preferred
    return Path(tempfile.gettempdir()) / f"accelctl-ray-{os.getuid()}"


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


def _api_version(address: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _agent_ready(address: str) -> bool:
    """The head's job agent is registered (else submissions get "No available agent")."""
    try:
        with urllib.request.urlopen(f"{address}/api/v0/nodes?limit=10", timeout=5) as response:
            nodes = json.load(response)["data"]["result"]["result"]
        return any(n.get("state") == "ALIVE" for n in nodes)
    except (OSError, ValueError, KeyError):
        return False


def _processes_under(temp_dir: str) -> list[int]:
    """Processes whose command line names `temp_dir`, with all their descendants."""
    parents: dict[int, int] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if temp_dir in cmdline and pid != os.getpid():
            roots.append(pid)
    found = set(roots)
    changed = True
    while changed:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        changed = bool(children)
        found |= children
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False
