"""SSH connections for the ssh backend: ~/.ssh/config, host keys, keys and agent, ProxyJump.

paramiko is imported here and only here, inside functions: listing pools or plans never
loads it. Host keys are checked against one known_hosts file (hashed entries too, via
paramiko's HostKeys); an unknown host is refused unless the pool says `accept-new`,
which records the key and says so. A changed key is always refused. No password is
ever used or stored: keys come from the agent or from files, and encrypted key files
must be in the agent.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelctl.errors import AccelctlError

CONNECT_TIMEOUT_S = 10.0
_WINDOW = 16 * 1024 * 1024  # per channel: a fast log tail should not wait on window updates
log = logging.getLogger("accelctl.ssh")


@dataclass(frozen=True)
class SshSettings:
    """Where and how to connect, as the pool (or a stored target) says; None: ~/.ssh/config decides."""

    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    host_key_policy: str = "strict"
    ssh_config: str | None = None
    known_hosts: str | None = None

    def config_path(self) -> str:
        return os.path.expanduser(self.ssh_config or os.environ.get("ACCELCTL_SSH_CONFIG") or "~/.ssh/config")


@dataclass(frozen=True)
class HostAddress:
    """A host name of the pool resolved through the ssh config."""

    name: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    proxy_jump: str | None
    known_hosts: str

    @property
    def key_name(self) -> str:
        """The host's name in known_hosts: `host`, or `[host]:port` off port 22."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve(name: str, settings: SshSettings, *, pool_fields: bool = True) -> HostAddress:
    """`name` through the ssh config (HostName, User, Port, IdentityFile, ProxyJump); the
    pool's own user / port / identity_file win when set (`pool_fields`: not for jump hosts)."""
    import paramiko

    config = paramiko.SSHConfig()
    path = settings.config_path()
    if os.path.exists(path):
        try:
            config = paramiko.SSHConfig.from_path(path)
        except (OSError, ValueError, paramiko.ssh_exception.ConfigParseError) as e:
            raise AccelctlError(f"cannot read ssh config {path}: {e}") from None
    found = config.lookup(name)
    user = (settings.user if pool_fields else None) or found.get("user") or getpass.getuser()
    port = (settings.port if pool_fields else None) or int(found.get("port", 22))
    identity = [settings.identity_file] if settings.identity_file and pool_fields else found.get("identityfile", [])
    jump = found.get("proxyjump")
    known = settings.known_hosts or os.environ.get("ACCELCTL_KNOWN_HOSTS") or \
        (found.get("userknownhostsfile") or "~/.ssh/known_hosts").split()[0]
    return HostAddress(name, found.get("hostname", name), port, user,
                       tuple(os.path.expanduser(i) for i in identity),
                       None if not jump or jump.lower() == "none" else jump, os.path.expanduser(known))


class UnknownHostKey(AccelctlError):
    """The host's key is not in known_hosts and the pool does not accept new keys."""


def _fingerprint(key: Any) -> str:
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def to_stderr(text: str) -> None:
    sys.stderr.write(f"accelctl: {text}\n")
    sys.stderr.flush()


# What the user must hear of (a host key trusted on first use): one line on stderr by
# default; the TUI, whose screen stderr would tear, may point it at a notification.
tell: Callable[[str], None] = to_stderr


def _policy(address: HostAddress, accept_new: bool) -> Any:
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if not accept_new:
                raise UnknownHostKey(
                    f"host {address.name} ({hostname}) is not in {address.known_hosts}; its key is "
                    f"{_fingerprint(key)}",
                    f"check that fingerprint, then `ssh-keyscan -p {address.port} {address.hostname} >> "
                    f"{address.known_hosts}`, or set `host_key_policy: accept-new` on the pool")
            _record_key(address.known_hosts, hostname, key)
            said = (f"trusted host {address.name} ({hostname}) on first use, as its pool says (host_key_policy: "
                    f"accept-new): {_fingerprint(key)}, added to {address.known_hosts}")
            log.info("%s", said)
            tell(said)

    return Policy()


def _record_key(path: str, hostname: str, key: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _tcp(hostname: str, port: int) -> socket.socket:
    """A TCP connection with Nagle off. SSH sends small messages and waits for the answer
    (channel open, exec, key exchange): with Nagle on, each such exchange can sit out the
    peer's delayed ACK, about 40 ms on Linux, once per command run."""
    sock = socket.create_connection((hostname, port), timeout=CONNECT_TIMEOUT_S)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (a test double): nothing to tune
    return sock


def _quiet_paramiko() -> None:
    """paramiko's transport thread logs a failed handshake (a cut banner) with its traceback;
    with no handler configured Python prints that on stderr. accelctl reports the failure as
    one line itself, so paramiko's records go nowhere unless the user configures logging."""
    logger = logging.getLogger("paramiko")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def connect(address: HostAddress, settings: SshSettings, via: Any = None) -> Any:
    """A connected, authenticated paramiko SSHClient for `address` (through the jump
    client `via` when given). Raises AccelctlError with one line saying what failed."""
    import paramiko

    _quiet_paramiko()
    client = paramiko.SSHClient()
    if os.path.exists(address.known_hosts):
        try:
            client.load_host_keys(address.known_hosts)  # hashed (|1|...) entries included
        except (OSError, paramiko.SSHException) as e:
            raise AccelctlError(f"cannot read known_hosts {address.known_hosts}: {e}") from None
    client.set_missing_host_key_policy(_policy(address, settings.host_key_policy == "accept-new"))
    where = f"{address.name} ({address.user}@{address.hostname}:{address.port})"
    sock = None
    try:
        if via is not None:
            sock = via.get_transport().open_channel("direct-tcpip", (address.hostname, address.port),
                                                    ("127.0.0.1", 0), timeout=CONNECT_TIMEOUT_S)
        else:
            sock = _tcp(address.hostname, address.port)
        client.connect(address.hostname, address.port, address.user, sock=sock,
                       key_filename=list(address.identity_files) or None, allow_agent=True,
                       look_for_keys=not address.identity_files, timeout=CONNECT_TIMEOUT_S,
                       banner_timeout=CONNECT_TIMEOUT_S, auth_timeout=CONNECT_TIMEOUT_S)
    except AccelctlError:
        client.close()
        if sock is not None:
            sock.close()
        raise
    except paramiko.BadHostKeyException as e:
        client.close()
        raise AccelctlError(f"host {where} offered a different key than {address.known_hosts} has for it "
                            f"({_fingerprint(e.key)}): refused",
                            "if the host was reinstalled, remove its old line with `ssh-keygen -R`") from None
    except paramiko.PasswordRequiredException:
        client.close()
        raise AccelctlError(f"the key for {where} is encrypted", "add it to your ssh-agent (`ssh-add`)") from None
    except paramiko.AuthenticationException:
        client.close()
        raise AccelctlError(f"host {where} refused our keys",
                            "check `user`/`identity_file`, or that your key is in the agent") from None
    except paramiko.ChannelException as e:
        client.close()
        raise AccelctlError(f"the jump host cannot reach {where}: {e.text or e}") from None
    except (paramiko.SSHException, OSError, EOFError) as e:
        client.close()
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, socket.timeout | TimeoutError):
            reason = f"no answer within {CONNECT_TIMEOUT_S:g} s"
        raise AccelctlError(f"cannot reach {where}: {reason}") from None
    transport = client.get_transport()
    transport.set_keepalive(15)
    transport.default_window_size = _WINDOW
    return client


class Connections:
    """Open connections to the hosts of one backend, reused while alive, reopened when not."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def address(self, name: str) -> HostAddress:
        return resolve(name, self.settings)

    def client(self, name: str, *, jump: bool = False) -> Any:
        """The live client for host `name` (blocking; call from a worker thread)."""
        with self._lock:
            lock = self._host_locks.setdefault(name, threading.Lock())
        with lock:
            client = self._clients.get(name)
            if client is not None and client.get_transport() is not None and client.get_transport().is_active():
                return client
            address = resolve(name, self.settings, pool_fields=not jump)
            via = None
            if address.proxy_jump:
                hop = address.proxy_jump.split(",")[-1].strip()  # the last hop reaches the host
                if hop == name:
                    raise AccelctlError(f"host {name} has itself as ProxyJump")
                via = self.client(hop, jump=True)
            client = self._clients[name] = connect(address, self.settings, via)
            return client

    def drop(self, name: str) -> None:
        """Forget a host's connection (after it failed), so that the next use reconnects."""
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        for name in list(self._clients):
            self.drop(name)


def run(client: Any, command: str, stdin: bytes = b"", timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """Run `command` (already quoted) on a host; (exit status, stdout, stderr)."""
    channel = client.get_transport().open_session()
    try:
        channel.settimeout(timeout)
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin)
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        while True:
            chunk = channel.recv(1 << 20)
            if not chunk:
                break
            out += chunk
        while channel.recv_stderr_ready() or not channel.exit_status_ready():
            chunk = channel.recv_stderr(1 << 16)
            if not chunk:
                break
            err += chunk
        return channel.recv_exit_status(), bytes(out), bytes(err)
    finally:
        channel.close()


def open_stream(client: Any, command: str) -> Any:
    """A channel running `command`, for reading its stdout as it comes."""
    channel = client.get_transport().open_session(window_size=_WINDOW, max_packet_size=32768)
    channel.exec_command(command)
    channel.shutdown_write()
    return channel
