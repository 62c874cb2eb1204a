"""Real OpenSSH servers on 127.0.0.1 for the ssh backend's tests (never the user's ~/.ssh).

`lab(config)` starts two `sshd -D` (Debian's openssh-server; `.ci/run` installs it) once
per test run, each on a free port with its own temporary host key, an authorized test
key, `StrictModes no`, `UsePAM no` and a temporary PidFile; they stand in for two hosts.
The lab writes its own ssh config (hosts `lab0`, `lab1`, `lab1-via-lab0` through
ProxyJump, `down` on a closed port) and known_hosts, which tests hand to accelctl.
Each host's PATH starts with its stand-in accelerator tools from tests/data/ssh/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
DATA = Path(__file__).resolve().parents[1] / "data" / "ssh"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """A new key pair at `path` (no passphrase); returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "accelctl-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    """One sshd: its port, host key and process."""

    root: Path
    port: int
    path_prefix: Path
    login_rc: bool = False  # let bash source the login's ~/.bashrc (see `lab`)
    host_pub: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self, authorized: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_pub = keygen(self.root / "host_key")
        config = self.root / "sshd_config"
        config.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.root / 'host_key'}
AuthorizedKeysFile {authorized}
PidFile {self.root / 'sshd.pid'}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxSessions 100
MaxStartups 100
SetEnv PATH={self.path_prefix}:{_PATH}{'' if self.login_rc else ' SHLVL=1'}
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation dir
        with open(self.root / "log", "wb") as log:  # sshd keeps its own copy of the descriptor
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(self.root / 'log').read_text()}") from None
                time.sleep(0.05)

    def cut_connections(self) -> int:
        """Kill every connection's server process (not the listener): clients see the
        connection drop as if the network failed. Returns how many were killed."""
        assert self.process
        killed = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                os.kill(int(stat.parent.name), signal.SIGKILL)
                killed += 1
        return killed

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.cut_connections()
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Lab:
    """Two sshd, a client key, an ssh config and a known_hosts that trusts both."""

    root: Path
    key: Path
    servers: list[Sshd] = field(default_factory=list)

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def known_line(self, index: int) -> str:
        server = self.servers[index]
        return f"[127.0.0.1]:{server.port} {' '.join(server.host_pub.split()[:2])}"

    def write_config(self) -> None:
        hosts = "".join(f"Host lab{i}\n  HostName 127.0.0.1\n  Port {s.port}\n  User root\n  IdentityFile {self.key}\n"
                        for i, s in enumerate(self.servers))
        self.ssh_config.write_text(
            hosts + f"Host lab1-via-lab0\n  HostName 127.0.0.1\n  Port {self.servers[1].port}\n  User root\n"
            f"  IdentityFile {self.key}\n  ProxyJump lab0\n"
            f"Host down\n  HostName 127.0.0.1\n  Port {free_port()}\n  User root\n  IdentityFile {self.key}\n"
            f"Host via-down\n  HostName 127.0.0.1\n  Port {self.servers[1].port}\n  User root\n"
            f"  IdentityFile {self.key}\n  ProxyJump down\n")
        self.known_hosts.write_text("".join(self.known_line(i) + "\n" for i in range(len(self.servers))))
        os.chmod(self.known_hosts, 0o600)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_LAB: list[Lab] = []


def lab(config: pytest.Config, *, login_rc: bool = False) -> Lab:
    """The test run's two sshd (started on first use, stopped when pytest ends).

    bash sources ~/.bashrc for every command sshd runs; this machine's (the tests run as
    its root) is a developer's (`pyenv init`: about 170 ms, 110 ms of it CPU, per command),
    not a GPU host's, and both lab hosts would pay it on the same CPUs, so two hosts at once
    would measure this machine's core count. Sessions get SHLVL=1, which bash takes as "not
    a login from sshd" and skips it, unless `login_rc` (bench/bench_ssh.py --login-rc).
    """
    if _LAB:
        return _LAB[0]
    if not os.path.exists(SSHD):
        pytest.skip("sshd is not installed (apt-get install openssh-server; .ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="accelctl-sshd-"))
    os.chmod(root, 0o700)
    the_lab = Lab(root, root / "client_key")
    pub = keygen(the_lab.key)
    authorized = root / "authorized_keys"
    authorized.write_text(pub + "\n")
    config.add_cleanup(the_lab.stop)
    for i, tools in enumerate(("host0", "host1")):
        server = Sshd(root / f"sshd{i}", free_port(), DATA / tools, login_rc)
        the_lab.servers.append(server)
        server.start(authorized)
    the_lab.write_config()
    _LAB.append(the_lab)
    return the_lab
