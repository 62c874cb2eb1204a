"""The ssh backend: jobs on plain hosts reached with paramiko.

Each job gets a directory on each of its hosts (`<workdir>/<backend id>/<rank>`): `work/` (the
job's working dir, uploaded over SFTP), `run.sh` (the launcher), `log` (stdout and
stderr), `pid` (the launcher's pid, which is also its session and process group: it
runs under `setsid`, so it outlives the SSH session), `exit` (the exit code, written
when the command ends), `boot` (the host's boot id at launch: a rebooted host's job is
lost, not running forever) and `cancelled` (written by cancel). The job's env travels
on the launch command's stdin and is never written to the host's disk or the store.

Logs follow `log` by byte offset (ssh_logs.py); connections, host keys and ProxyJump are
ssh_conn.py's; which accelerators the hosts have, ssh_probe.py's.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

from accelctl.backends import ssh_conn, ssh_logs
from accelctl.backends.base import (
    Backend,
    JobState,
    JobStatus,
    LogBatch,
    Notice,
    Position,
    Probe,
    Target,
)
from accelctl.backends.shell import exports
from accelctl.backends.ssh_conn import Connections, SshSettings
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import Pool, SshPool
from accelctl.errors import AccelctlError, InvalidInput

PROBE_TIMEOUT_S = 5.0
CANCEL_GRACE_S = 10  # SIGTERM, then SIGKILL for what is left of the job's session
_KILL_AFTER_S = 30  # after a timeout's SIGTERM

# The launcher: session leader (pid = sid = pgid), records pid, boot id and exit code.
_RUN = """#!/bin/sh
# accelctl job {job}: rank {rank} of {nodes}
echo $$ > pid.tmp && mv pid.tmp pid
export ACCELCTL_JOB_ID={job_q} ACCELCTL_NODE_RANK={rank} ACCELCTL_NUM_NODES={nodes} \\
  MASTER_ADDR={master_q} MASTER_PORT={port} NODE_RANK={rank} NNODES={nodes} \\
  PET_NODE_RANK={rank} PET_NNODES={nodes} PET_MASTER_ADDR={master_q} PET_MASTER_PORT={port}
cd work && {command}
echo $? > ../exit.tmp && mv ../exit.tmp ../exit
"""
# Run on the host with the job's env as stdin (shell assignments, every value quoted):
# start the launcher detached and wait (up to 5 s) for its pid.
_LAUNCH = """cd {dir} && cat /proc/sys/kernel/random/boot_id > boot 2>/dev/null; eval "$(cat)" && \
(setsid sh ./run.sh </dev/null >log 2>&1 &) && i=0 && \
while [ ! -s pid ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; cat pid"""
# One job's state on one host, as key=value lines.
_STATUS = """cd {dir} 2>/dev/null || {{ echo missing=1; exit 0; }}
p=$(cat pid 2>/dev/null); echo "pid=$p"; echo "exit=$(cat exit 2>/dev/null)"
echo "boot=$(cat boot 2>/dev/null)"; echo "now=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
[ -e cancelled ] && echo cancelled=1
if [ -n "$p" ] && [ -r /proc/$p/stat ]; then read -r _ _ _ _ _ s _ < /proc/$p/stat; [ "$s" = "$p" ] && echo alive=1; fi
true"""
_ALIVE = """p=$(cat pid 2>/dev/null); alive=
if [ -n "$p" ] && [ -r /proc/$p/stat ]; then read -r _ _ _ _ _ s _ < /proc/$p/stat; [ "$s" = "$p" ] && alive=1; fi"""
_KILL = """if command -v pkill >/dev/null; then pkill -{sig} -s "$p"; else kill -{sig} -- "-$p"; fi 2>/dev/null"""
# Cancel: mark the job cancelled, SIGTERM its whole session now and SIGKILL what is left later.
_CANCEL = """cd {dir} 2>/dev/null || { echo missing; exit 0; }
""" + _ALIVE + """
{ [ -e exit ] || [ -z "$alive" ]; } && { echo ended; exit 0; }
: > cancelled; echo cancelling
""" + _KILL.format(sig="TERM") + """
(sleep GRACE; [ -e exit ] || """ + _KILL.format(sig="KILL") + """) </dev/null >/dev/null 2>&1 &
true"""


def job_dir(workdir: str, backend_id: str, rank: int | None = None) -> str:
    """The job's directory on a host (`<workdir>/<backend id>/<rank>`: hosts that share a
    home over NFS keep their ranks apart), relative to the login's home unless absolute."""
    base = workdir[2:] if workdir.startswith("~/") else workdir
    top = f"{base.rstrip('/')}/{backend_id}"
    return top if rank is None else f"{top}/{rank}"


def launcher(spec: JobSpec, job: str, rank: int, nodes: int, master: str, master_port: int) -> str:
    """The job's run.sh for one rank: its command (quoted) under `timeout` when it has one."""
    command = f"sh -c {shlex.quote(spec.entrypoint)}"
    if spec.timeout_s:
        command = f"timeout --signal=TERM --kill-after={_KILL_AFTER_S} {spec.timeout_s} {command}"
    return _RUN.format(job=job.replace("\n", " "), job_q=shlex.quote(job), rank=rank, nodes=nodes,
                       master_q=shlex.quote(master), port=master_port, command=command)


class SshBackend(Backend):
    """Jobs on the hosts of one SSH pool; a job on N nodes runs on the first N hosts."""

    kind = "ssh"
    env_refs = frozenset({"from_env"})  # values travel on the launch command's stdin

    def __init__(self, pool_name: str, hosts: tuple[str, ...], settings: SshSettings, *,
                 workdir: str = ".accelctl/jobs", env: dict[str, str] | None = None,
                 master_port: int = 29500) -> None:
        super().__init__(pool_name)
        self.hosts = hosts
        self.settings = settings
        self.workdir = workdir
        self.env = dict(env or {})
        self.master_port = master_port
        self.connections = Connections(settings)

    @classmethod
    def from_pool(cls, pool: Pool) -> SshBackend:
        assert isinstance(pool, SshPool)
        settings = SshSettings(pool.user, pool.port, pool.identity_file, pool.host_key_policy, pool.ssh_config,
                               pool.known_hosts)
        return cls(pool.name, pool.hosts, settings, workdir=pool.workdir, env=pool.env,
                   master_port=pool.master_port)

    @classmethod
    def from_target(cls, pool_name: str, target: Target) -> SshBackend:
        settings = SshSettings(target.get("user"), target.get("port"), target.get("identity_file"),
                               target.get("host_key_policy", "strict"), target.get("ssh_config"),
                               target.get("known_hosts"))
        return cls(pool_name, tuple(target["hosts"]), settings, workdir=target.get("workdir", ".accelctl/jobs"),
                   master_port=target.get("master_port", 29500))

    @property
    def target(self) -> Target:
        s = self.settings
        found: Target = {"hosts": list(self.hosts), "workdir": self.workdir, "user": s.user, "port": s.port,
                         "identity_file": s.identity_file, "host_key_policy": s.host_key_policy,
                         "ssh_config": s.ssh_config, "known_hosts": s.known_hosts, "master_port": self.master_port}
        return {k: v for k, v in found.items() if v is not None}

    # --- plumbing ---------------------------------------------------------------------

    def _job_hosts(self, backend_id: str) -> list[str]:
        """The hosts a job runs on: the first N, N from its id (`...-<N>n`)."""
        nodes = backend_id.rsplit("-", 1)[-1]
        if not (nodes.endswith("n") and nodes[:-1].isdigit()) or not 0 < int(nodes[:-1]) <= len(self.hosts):
            raise AccelctlError(f'pool "{self.pool_name}" has no job {backend_id}')
        return list(self.hosts[:int(nodes[:-1])])

    def _dir(self, backend_id: str, rank: int | None = None) -> str:
        return shlex.quote(job_dir(self.workdir, backend_id, rank))

    def _run(self, host: str, command: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        """Run a command on a host (blocking), reconnecting once if the connection died."""
        import paramiko

        for attempt in (1, 2):
            client = self.connections.client(host)
            try:
                return ssh_conn.run(client, command, stdin)
            except (paramiko.SSHException, OSError, EOFError) as e:
                self.connections.drop(host)
                if attempt == 2:
                    raise AccelctlError(f'pool "{self.pool_name}": lost the connection to {host}: {e}') from None
        raise AssertionError("unreachable")

    async def _on_all(self, hosts: list[str], command: Any, stdin: Any = None) -> list[tuple[int, bytes, bytes]]:
        """`command(i)` on each host at once (stdin(i) as its input)."""
        return list(await asyncio.gather(*(
            asyncio.to_thread(self._run, h, command(i), stdin(i) if stdin else b"") for i, h in enumerate(hosts))))

    # --- the contract -------------------------------------------------------------------

    async def probe(self) -> Probe:
        async def one(host: str) -> str | None:
            try:
                code, out, _ = await asyncio.wait_for(asyncio.to_thread(self._run, host, "uname -sm"),
                                                      PROBE_TIMEOUT_S)
            except TimeoutError:
                return f"{host}: no answer within {PROBE_TIMEOUT_S:g} s"
            except AccelctlError as e:
                return e.message
            return None if code == 0 else f"{host}: `uname` failed"

        problems = [p for p in await asyncio.gather(*(one(h) for h in self.hosts)) if p]
        if problems:
            return Probe(False, "; ".join(problems))
        return Probe(True, f"{len(self.hosts)} host(s) answer: {', '.join(self.hosts)}")

    async def probe_accelerators(self, accelerators: list[Any]) -> list[Any]:
        """Which accelerators each host has (all hosts at once), kept in the probe cache."""
        from accelctl.backends import ssh_probe

        results = await ssh_probe.probe_hosts(self, accelerators)
        await asyncio.to_thread(ssh_probe.save, self.pool_name, results)
        return results

    def plan(self, spec: JobSpec, placement: Placement) -> dict[str, Any]:
        hosts = self._hosts_for(placement)
        return {"hosts": hosts, "job_dir": job_dir(self.workdir, "<id>"),
                "command": launcher(spec, "<id>", 0, len(hosts), hosts[0], self.master_port).splitlines()[-2]}

    def _hosts_for(self, placement: Placement) -> list[str]:
        if placement.nodes > len(self.hosts):
            raise InvalidInput(f'pool "{self.pool_name}" has {len(self.hosts)} host(s); the job needs '
                               f"{placement.nodes}")
        return list(self.hosts[:placement.nodes])

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str,
                     secrets: Mapping[str, str] | None = None) -> str:
        hosts = self._hosts_for(placement)
        backend_id = f"accelctl-{job_id}-{len(hosts)}n"
        master = await asyncio.to_thread(lambda: self.connections.address(hosts[0]).hostname)
        env = exports({**self.env, **spec.plain_env, **(secrets or {})}).encode()
        try:
            # Every host's preparation ends before any failure is raised, so the clean-up below
            # never races one still uploading.
            prepared = await asyncio.gather(*(asyncio.to_thread(self._prepare, h, backend_id, spec, i, len(hosts),
                                                                master) for i, h in enumerate(hosts)),
                                            return_exceptions=True)
            for failure in prepared:
                if isinstance(failure, BaseException):
                    raise failure
            results = await self._on_all(hosts, lambda i: _LAUNCH.format(dir=self._dir(backend_id, i)),
                                         lambda i: env)
        except BaseException:
            await asyncio.gather(*(asyncio.to_thread(self._remove, h, backend_id) for h in hosts),
                                 return_exceptions=True)
            raise
        for host, (code, out, err) in zip(hosts, results, strict=True):
            if code != 0 or not out.strip():
                await asyncio.gather(*(asyncio.to_thread(self._remove, h, backend_id) for h in hosts),
                                     return_exceptions=True)
                why = err.decode(errors="replace").strip().splitlines() or ["the launcher did not start"]
                raise AccelctlError(f'pool "{self.pool_name}": cannot start the job on {host}: {why[-1]}')
        return backend_id

    def _prepare(self, host: str, backend_id: str, spec: JobSpec, rank: int, nodes: int, master: str) -> None:
        """Make the job's directory, upload its workdir and launcher (blocking)."""
        directory = job_dir(self.workdir, backend_id, rank)
        code, _, err = self._run(host, f"mkdir -p -- {shlex.quote(directory + '/work')}")
        if code != 0:
            raise AccelctlError(f'pool "{self.pool_name}": cannot make the job directory on {host}: '
                                f"{err.decode(errors='replace').strip()}")
        client = self.connections.client(host)
        try:
            with client.open_sftp() as sftp:
                if spec.workdir_path:
                    _upload_tree(sftp, Path(spec.workdir_path), directory + "/work")
                with sftp.open(directory + "/run.sh", "w") as f:
                    f.write(launcher(spec, backend_id, rank, nodes, master, self.master_port).encode())
        except OSError as e:
            reason = e.strerror or str(e) or type(e).__name__
            raise AccelctlError(f'pool "{self.pool_name}": cannot upload the job to {host}: {reason}',
                                "is the host's disk full, or the workdir not writable?") from None

    def _remove(self, host: str, backend_id: str) -> None:
        self._run(host, f"rm -rf -- {self._dir(backend_id)}")

    async def status(self, backend_id: str) -> JobStatus:
        hosts = self._job_hosts(backend_id)
        results = await self._on_all(hosts, lambda i: _STATUS.format(dir=self._dir(backend_id, i)))
        ranks = [self._rank_status(h, backend_id, out) for h, (_, out, _) in zip(hosts, results, strict=True)]
        return _combine(ranks, hosts)

    async def rank_status(self, backend_id: str, rank: int) -> JobStatus:
        """One rank's state (the stream of a multi-host job ends with its own rank)."""
        host = self._job_hosts(backend_id)[rank]
        _, out, _ = await asyncio.to_thread(self._run, host, _STATUS.format(dir=self._dir(backend_id, rank)))
        return self._rank_status(host, backend_id, out)

    def _rank_status(self, host: str, backend_id: str, out: bytes) -> JobStatus:
        facts = dict(line.split("=", 1) for line in out.decode(errors="replace").splitlines() if "=" in line)
        if facts.get("missing"):
            raise AccelctlError(f'pool "{self.pool_name}" has no job {backend_id} on {host}',
                                "its directory is gone from the host")
        if facts.get("exit", "").strip().lstrip("-").isdigit():
            code = int(facts["exit"])
            if code == 0:
                return JobStatus(JobState.SUCCEEDED, 0)
            if code == 124:
                return JobStatus(JobState.FAILED, code, f"timed out on {host}")
            return JobStatus(JobState.FAILED, code, f"exit {code} on {host}" +
                             (" (command not found)" if code == 127 else ""))
        if facts.get("alive") and facts.get("boot") == facts.get("now"):
            return JobStatus(JobState.RUNNING)
        if facts.get("cancelled"):
            return JobStatus(JobState.CANCELLED)
        if not facts.get("pid"):
            return JobStatus(JobState.PENDING)
        if facts.get("boot") != facts.get("now"):
            return JobStatus(JobState.FAILED, None, f"lost: {host} rebooted while the job ran")
        return JobStatus(JobState.FAILED, None, f"lost: the job's process on {host} ended without an exit code "
                                                "(killed?)")

    def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
             notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        return ssh_logs.logs(self, backend_id, follow=follow, since=since, notice=notice)

    async def cancel(self, backend_id: str) -> bool:
        hosts = self._job_hosts(backend_id)
        results = await self._on_all(hosts, lambda i: _CANCEL.replace("{dir}", self._dir(backend_id, i))
                                     .replace("GRACE", str(CANCEL_GRACE_S)))
        return any(out.startswith(b"cancelling") for _, out, _ in results)

def _combine(ranks: list[JobStatus], hosts: list[str]) -> JobStatus:
    """The job's state from its ranks' states: running while any runs; then failed if any
    failed, cancelled if any was cancelled, else succeeded."""
    if len(ranks) == 1:
        return ranks[0]
    states = {r.state for r in ranks}
    if not all(s.terminal for s in states):
        return JobStatus(JobState.PENDING if states <= {JobState.PENDING} else JobState.RUNNING)
    for rank, status in enumerate(ranks):
        if status.state == JobState.FAILED:
            return JobStatus(JobState.FAILED, status.exit_code, f"rank {rank}: {status.message}")
    if JobState.CANCELLED in states:
        return JobStatus(JobState.CANCELLED)
    return JobStatus(JobState.SUCCEEDED, 0)


def _upload_tree(sftp: Any, local: Path, remote: str) -> None:
    """Copy a local directory into `remote` (which exists), keeping file modes."""
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local).as_posix()
        target = f"{remote}/{relative}"
        if path.is_symlink():
            continue  # a link may point outside the working dir: not uploaded
        if path.is_dir():
            sftp.mkdir(target)
        elif path.is_file():
            sftp.put(str(path), target)
            sftp.chmod(target, path.stat().st_mode & 0o777)
