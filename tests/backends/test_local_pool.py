"""The local pool is reachable by its owner only (DESIGN rule 7).

Against the session's real Ray head (`ray_cluster`, started through LocalRay with a stand-in
TPU node joined to it), and one more head of its own for what stopping does.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from accelctl.backends.local import LOOPBACK_ENV, LocalRay, auth_env
from accelctl.errors import AccelctlError
from tests.cli.localpool import pool_pids
from tests.conftest import RayCluster, run_accelctl

# A stock Ray driver: connects, then runs one task. "RESULT 42" only if the cluster ran it.
_DRIVER = """
import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False)
print("CONNECTED", flush=True)
print("RESULT", ray.get(ray.remote(lambda: 6 * 7).remote(), timeout=30), flush=True)
"""

# A job that keeps running until it is ended.
_SLEEPER = "python -c \"import time; print('up', flush=True); time.sleep(600)\" accelctl-sleeper"


def _http(url: str, method: str = "GET", token: str | None = None, body: dict | None = None
          ) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _cmdline(pid: int) -> bytes:
    """A process's command line; empty once it has ended (the pool's workers come and go)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return inodes


def _proc_net_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/{tcp,udp}[6] addresses: 32-bit words in host (little-endian) byte order."""
    words = [bytes.fromhex(hex_address[i:i + 8])[::-1] for i in range(0, len(hex_address), 8)]
    raw = b"".join(words)
    return ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)


def _bound_sockets(pids: list[int]) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP socket and bound UDP socket of `pids`."""
    inodes = _socket_inodes(pids)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes or (proto.startswith("tcp") and state != "0A"):
                continue
            hex_address, hex_port = local.split(":")
            found.append((proto, str(_proc_net_address(hex_address)), int(hex_port, 16)))
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _external_address() -> str | None:
    """This machine's first non-loopback IPv4 address, or None when it has none."""
    import fcntl
    import socket
    import struct

    siocgifaddr = 0x8915
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                packed = fcntl.ioctl(s.fileno(), siocgifaddr, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
        address = socket.inet_ntoa(packed[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


def _stock_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who has Ray but not the pool's token."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    return {**env, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0", **extra}


def _drivers(runs: dict[str, tuple[str, dict[str, str]]], timeout: float) -> dict[str, str]:
    """Run stock drivers side by side: name -> (address, env); returns name -> output. One that
    is still trying after `timeout` is killed (its output so far is kept)."""
    procs = {name: subprocess.Popen([sys.executable, "-c", _DRIVER, address], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
             for name, (address, env) in runs.items()}
    out = {}
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            stdout, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate()
        out[name] = stdout.decode(errors="replace")
    return out


def test_jobs_api_wants_the_token(ray_cluster: RayCluster) -> None:
    token = ray_cluster.token_file.read_text().strip()
    jobs = f"{ray_cluster.address}/api/jobs/"
    assert _http(jobs)[0] == 401
    assert _http(jobs, token="0" * 64)[0] == 403
    assert _http(f"{ray_cluster.address}/api/version")[0] == 401
    submit = {"entrypoint": "echo should-not-run"}
    assert _http(jobs, "POST", body=submit)[0] == 401
    assert _http(jobs, "POST", token="0" * 64, body=submit)[0] == 403
    status, body = _http(jobs, token=token)
    assert status == 200 and "should-not-run" not in body


def test_stock_ray_clients_without_the_token_cannot_use_the_pool(ray_cluster: RayCluster,
                                                                 tmp_path: Path) -> None:
    state = LocalRay(state_file=ray_cluster.state_home / "accelctl" / "local-pool.json").status()
    assert state is not None
    port = state["gcs_address"].rsplit(":", 1)[1]
    stock = _stock_env(tmp_path)
    runs = {
        # Without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray would swap 127.0.0.1 for the
        # machine's address; with it, the driver really reaches the GCS on loopback.
        "gcs on 127.0.0.1": (state["gcs_address"], {**stock, **LOOPBACK_ENV}),
        "ray client on 127.0.0.1": (state["client_address"], stock),
        "with the token": (state["gcs_address"], {**stock, **auth_env(ray_cluster.token_file)}),
    }
    external = _external_address()
    if external:
        runs["gcs on the machine's address"] = (f"{external}:{port}", stock)
        runs["ray client on the machine's address"] = (state["client_address"].replace("127.0.0.1", external),
                                                       stock)
    out = _drivers(runs, timeout=25)
    assert "RESULT 42" in out["with the token"], out["with the token"][-2000:]
    for name, text in out.items():
        if name != "with the token":
            assert "CONNECTED" not in text and "RESULT" not in text, f"{name}:\n{text[-2000:]}"
    assert "InvalidAuthToken" in out["gcs on 127.0.0.1"], out["gcs on 127.0.0.1"][-2000:]


def test_no_listener_of_the_pool_is_beyond_loopback(ray_cluster: RayCluster) -> None:
    pids = pool_pids(ray_cluster.token_file)
    assert ray_cluster.head_pid in pids and len(pids) >= 8, pids
    sockets = _bound_sockets(pids)
    ports = {port for _, _, port in sockets}
    gcs_port = int(ray_cluster.gcs_address.rsplit(":", 1)[1])
    dashboard_port = int(ray_cluster.address.rsplit(":", 1)[1])
    assert {gcs_port, dashboard_port} <= ports, sockets
    beyond = [s for s in sockets if not _is_loopback(s[1])]
    assert beyond == [], beyond


def test_token_file_and_its_dirs_are_private(ray_cluster: RayCluster) -> None:
    token_file = ray_cluster.token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    # Ray makes its temp dir 0777; the dir around it keeps others out.
    assert stat.S_IMODE(ray_cluster.temp_dir.parent.stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    assert len(token) == 64 and int(token, 16) >= 0
    state_file = ray_cluster.state_home / "accelctl" / "local-pool.json"
    assert token not in state_file.read_text()
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_a_second_start_is_refused_while_the_pool_runs(ray_cluster: RayCluster) -> None:
    local = LocalRay(state_file=ray_cluster.state_home / "accelctl" / "local-pool.json",
                     temp_dir=ray_cluster.temp_dir)
    before = local.token()
    with pytest.raises(AccelctlError, match="already running"):
        local.start()
    assert local.token() == before


def test_status_reports_where_things_are_never_the_token(ray_cluster: RayCluster) -> None:
    env = {"XDG_STATE_HOME": str(ray_cluster.state_home), "XDG_CACHE_HOME": str(ray_cluster.cache_home)}
    token = ray_cluster.token_file.read_text().strip()
    as_json = run_accelctl("local", "status", "-o", "json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["running"] is True
    assert data["address"] == ray_cluster.address
    assert data["token_file"] == str(ray_cluster.token_file)
    assert data["pid"] == ray_cluster.head_pid
    assert data["temp_dir"] == str(ray_cluster.temp_dir)
    assert data["ray_version"] == __import__("ray").__version__
    outputs = [as_json]
    for args in (("local", "status"), ("local", "status", "-o", "yaml"), ("local", "start"), ("pools",)):
        done = run_accelctl(*args, env=env)
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done)
    assert f"running at {ray_cluster.address}" in outputs[1].stdout
    assert outputs[3].stdout.strip() == ray_cluster.address
    for done in outputs:
        assert token not in done.stdout + done.stderr


def test_the_token_is_in_no_file_of_the_pool(ray_cluster: RayCluster) -> None:
    """Ray's logs, the head's output, the stand-in node's logs: no file but the token file."""
    token = ray_cluster.token_file.read_text().strip().encode()
    holders = []
    scanned = 0
    for path in ray_cluster.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != ray_cluster.token_file:
            scanned += 1
            try:
                if token in path.read_bytes():
                    holders.append(path)
            except OSError:
                continue
    assert scanned > 20
    assert holders == []


def test_stop_ends_running_jobs_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool of its own, driven through the CLI: start, run a job, stop; nothing of it runs
    once `local stop` returns, nor 20 s later."""
    root = Path(tempfile.mkdtemp(prefix="acs-"))
    env = {"XDG_STATE_HOME": str(root / "state"), "XDG_CACHE_HOME": str(root / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    local = LocalRay()
    try:
        started = time.monotonic()
        up = run_accelctl("local", "start", env=env)
        start_s = time.monotonic() - started
        assert up.returncode == 0, up.stderr
        address = up.stdout.strip()
        token = local.token()
        assert stat.S_IMODE(local.temp_dir.parent.stat().st_mode) == 0o700
        status, body = _http(f"{address}/api/jobs/", "POST", token=token,
                             body={"entrypoint": _SLEEPER})
        assert status == 200, body
        job = json.loads(body)["submission_id"]
        deadline = time.monotonic() + 60
        while json.loads(_http(f"{address}/api/jobs/{job}", token=token)[1])["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.5)
        running = pool_pids(local.token_file)
        sleeper = [p for p in running if b"accelctl-sleeper" in _cmdline(p)]
        assert len(running) >= 8 and sleeper, running

        started = time.monotonic()
        down = run_accelctl("local", "stop", env=env)
        stop_s = time.monotonic() - started
        assert down.returncode == 0, down.stderr
        assert down.stdout.strip() == "local pool: stopped"
        assert f"ends 1 job(s) still running on it: {job}" in down.stderr
        assert token not in up.stdout + up.stderr + down.stdout + down.stderr
        assert pool_pids(local.token_file) == []
        assert not any(Path(f"/proc/{p}").exists() for p in sleeper)
        print(f"local pool: start {start_s:.1f} s, stop with a running job {stop_s:.1f} s")
        time.sleep(20)
        assert pool_pids(local.token_file) == []
        gone = run_accelctl("local", "status", "-o", "json", env=env)
        assert json.loads(gone.stdout)["running"] is False
        assert run_accelctl("local", "stop", env=env).stdout.strip() == "local pool: was not running"
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)
