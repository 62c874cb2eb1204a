"""Ray Jobs API backend, for remote Ray clusters and the embedded local pool.

It speaks the Jobs REST API directly (urllib in worker threads, aiohttp for the log
tail websocket), so watching a job never pays the second it takes to import Ray;
Ray's SDK loads only to package and upload a working dir. Every request carries the
pool's token (Ray token authentication) when it has one; the token is read from its
file or environment variable at the moment of use and kept nowhere else.

Ray's log tail replays the whole log on each connection, yields chunks that can end
mid-line and ends silently on a normal close even while the job runs: the shared loop
in `streams.follow` drops what a replay repeats and reconnects.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

from accelctl.backends import streams
from accelctl.backends.base import (
    Backend,
    JobState,
    JobStatus,
    LogBatch,
    Notice,
    Position,
    Probe,
    Progress,
    StreamDropped,
    Target,
)
from accelctl.backends.shell import exports
from accelctl.core import chips
from accelctl.core.jobspec import JobSpec
from accelctl.core.models import CPU
from accelctl.core.placement import Placement
from accelctl.core.pools import Pool, RayPool
from accelctl.errors import AccelctlError, InvalidInput

_STATES = {"PENDING": JobState.PENDING, "RUNNING": JobState.RUNNING, "SUCCEEDED": JobState.SUCCEEDED,
           "FAILED": JobState.FAILED, "STOPPED": JobState.CANCELLED}
# A log record of Ray's job supervisor, as it writes them into the job's log.
_SUPERVISOR_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\t[A-Z]+ job_manager\.py:\d+ -- ")
_SLICE = 256 * 1024  # characters of a fetched log per chunk
# Until a job's first output arrives, its log is polled this often: Ray's tail websocket
# only looks at the file about once a second, and the first line is what people wait for.
_FIRST_OUTPUT_POLL_S = 0.05
_FIRST_OUTPUT_POLL_FOR_S = 10.0
PROBE_TIMEOUT_S = 5.0

class RayBackend(Backend):
    """Jobs on one Ray cluster, reached at its dashboard address (http://HOST:8265)."""

    kind = "ray"
    env_refused = "Ray keeps a job's env in its job table (its dashboard shows it) and its runtime-env log"
    # No stall timer in the stream loop: the websocket's heartbeat (30 s) finds a dead
    # connection, and a reconnect replays the whole log, too dear to do for a quiet job.
    stall_after_s: float | None = None

    def __init__(self, pool_name: str, address: str | None, *, token_file: str | None = None,
                 token_env: str | None = None) -> None:
        super().__init__(pool_name)
        self._address = address.rstrip("/") if address else None
        self.token_file = token_file
        self.token_env = token_env

    @classmethod
    def from_pool(cls, pool: Pool) -> RayBackend:
        assert isinstance(pool, RayPool)
        return cls(pool.name, pool.address or os.environ.get("RAY_ADDRESS"), token_file=pool.auth_token_file,
                   token_env=pool.auth_token_env)

    @classmethod
    def from_target(cls, pool_name: str, target: Target) -> RayBackend:
        return cls(pool_name, target.get("address"), token_file=target.get("auth_token_file"),
                   token_env=target.get("auth_token_env"))

    @property
    def target(self) -> Target:
        found = {"address": self.address, "auth_token_file": self.token_file, "auth_token_env": self.token_env}
        return {k: v for k, v in found.items() if v}

    @property
    def address(self) -> str:
        """The dashboard address; InvalidInput when the pool has none."""
        if not self._address:
            raise InvalidInput(f'pool "{self.pool_name}" has no address', "set `address:` or $RAY_ADDRESS")
        return self._address

    def token(self) -> str | None:
        """The pool's Ray token, or None when the pool uses none."""
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise AccelctlError(f'pool "{self.pool_name}": ${self.token_env} (its Ray token) is not set')
            return value
        if self.token_file:
            path = os.path.expanduser(self.token_file)
            try:
                with open(path) as f:
                    return f.read().strip()
            except OSError as e:
                raise AccelctlError(f'pool "{self.pool_name}": cannot read its Ray token file {path}: '
                                    f"{e.strerror}") from None
        return None

    def _headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    # --- plumbing: the Jobs REST API over urllib; the SDK only to upload a working_dir ---

    def _unreachable(self, error: Exception) -> AccelctlError:
        detail = str(getattr(error, "reason", "") or error).splitlines()[0] or type(error).__name__
        return AccelctlError(f'pool "{self.pool_name}": Ray at {self.address} does not answer: {detail}',
                             "is the cluster up? `accelctl local status` for the local pool")

    def _http(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.address + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **self._headers()})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace").strip().splitlines()
            message = detail[-1] if detail else e.reason
            if e.code in (401, 403):
                raise AccelctlError(f'pool "{self.pool_name}": Ray at {self.address} refused the request '
                                    f"({e.code}): {message}", "check the pool's auth_token_file / auth_token_env"
                                    ) from None
            if e.code == 404 and path.startswith("/api/jobs/") and len(path) > len("/api/jobs/"):
                job = path.split("/")[3]
                raise AccelctlError(f'pool "{self.pool_name}" no longer knows job {job}: {message}',
                                    "Ray keeps jobs only while its cluster runs; a restarted pool forgets them"
                                    ) from None
            if e.code == 404:
                raise AccelctlError(f"Ray at {self.address} has no {path}: {message}") from None
            raise AccelctlError(f"Ray at {self.address} answered {e.code}: {message}") from None
        except (OSError, ValueError, http.client.HTTPException) as e:  # a cut reply: IncompleteRead, BadStatusLine
            raise self._unreachable(e) from None

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._http, method, path, body)

    # --- the contract ------------------------------------------------------------------

    async def probe(self) -> Probe:
        if not self._address:
            return Probe(False, "no address (set `address:` or RAY_ADDRESS)")
        try:
            version = await asyncio.wait_for(self._request("GET", "/api/version"), PROBE_TIMEOUT_S)
        except TimeoutError:
            return Probe(False, f"{self.address}: no answer within {PROBE_TIMEOUT_S:g} s")
        except AccelctlError as e:
            return Probe(False, e.message)
        return Probe(True, f"Ray {version.get('ray_version', '?')} at {self.address}")

    def plan(self, spec: JobSpec, placement: Placement) -> dict[str, Any]:
        return {"resources": ray_request(spec, placement), "entrypoint": self._entrypoint(spec)}

    @staticmethod
    def _entrypoint(spec: JobSpec) -> str:
        if spec.timeout_s:
            return f"timeout --signal=TERM --kill-after=30 {spec.timeout_s} sh -c {shlex.quote(spec.entrypoint)}"
        return spec.entrypoint

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str,
                     secrets: Mapping[str, str] | None = None) -> str:
        request = ray_request(spec, placement)
        await asyncio.to_thread(self._check_fits, request)
        submission_id = f"accelctl-{job_id}"
        entrypoint = self._entrypoint(spec)
        if secrets:
            entrypoint = self._with_secrets(submission_id, secrets, entrypoint)
        body: dict[str, Any] = {
            "entrypoint": entrypoint, "submission_id": submission_id,
            "metadata": {"accelctl_id": job_id, "accelctl_name": spec.name},
            "runtime_env": {"env_vars": spec.plain_env} if spec.plain_env else {},
        }
        for key, field in (("CPU", "entrypoint_num_cpus"), ("GPU", "entrypoint_num_gpus"),
                           ("memory", "entrypoint_memory")):
            if key in request:
                body[field] = int(request[key]) if key == "memory" else request[key]
        custom = {k: v for k, v in request.items() if k not in ("CPU", "GPU", "memory")}
        if custom:
            body["entrypoint_resources"] = custom
        if spec.workdir_path:
            body["runtime_env"]["working_dir"] = await asyncio.to_thread(self._upload, spec.workdir_path)
        try:
            answer = await self._request("POST", "/api/jobs/", body)
        except BaseException:
            self._drop_secrets(submission_id)
            raise
        return str(answer.get("submission_id") or answer.get("job_id"))

    def _with_secrets(self, submission_id: str, secrets: Mapping[str, str], entrypoint: str) -> str:
        """The entrypoint, preceded by what gives the job its secret env values. A remote
        cluster gets none (`env_refs` is empty, so check_env_refs refused the job already)."""
        raise AssertionError("RayBackend takes no secrets")

    def _drop_secrets(self, submission_id: str) -> None:
        """Remove what `_with_secrets` left for a job that will not read it."""

    def _upload(self, workdir: Any) -> str:
        """Package and upload a working dir the way Ray's SDK does; returns its gcs:// URI."""
        from ray.job_submission import JobSubmissionClient

        logging.getLogger("ray").setLevel(logging.WARNING)  # Ray configures its logger on import

        try:
            client = JobSubmissionClient(self.address, headers=self._headers())
            runtime_env = {"working_dir": str(workdir)}
            client._upload_working_dir_if_needed(runtime_env)
        except (ConnectionError, RuntimeError) as e:
            raise self._unreachable(e) from None
        return str(runtime_env["working_dir"])

    def _check_fits(self, request: dict[str, float]) -> None:
        """Refuse up front what no node of the cluster could ever run (Ray would wait forever)."""
        if not request:
            return
        nodes = self._http("GET", "/api/v0/nodes?limit=1000")
        alive = [n.get("resources_total", {}) for n in nodes["data"]["result"]["result"] if n.get("state") == "ALIVE"]
        if any(all(res.get(k, 0) >= v for k, v in request.items()) for res in alive):
            return
        have = sorted({k for res in alive for k in res if not k.startswith(("node:", "memory", "object_store"))})
        want = ", ".join(f"{k}={v:g}" for k, v in request.items())
        raise InvalidInput(f"no node of the Ray cluster at {self.address} has {want} "
                           f"(its nodes offer: {', '.join(have) or 'nothing'})",
                           "choose a pool with that accelerator, or lower count")

    async def status(self, backend_id: str) -> JobStatus:
        return _status(await self._request("GET", f"/api/jobs/{backend_id}"))

    async def cancel(self, backend_id: str) -> bool:
        return bool((await self._request("POST", f"/api/jobs/{backend_id}/stop")).get("stopped"))

    async def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
                   notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        info = await self._request("GET", f"/api/jobs/{backend_id}")
        preamble = PreambleFilter(notice, backend_id, str(info.get("entrypoint") or ""))
        async with aclosing(streams.follow(self, backend_id, live=follow, since=since, notice=notice)) as batches:
            async for batch in batches:
                kept = preamble.filter(batch)
                if kept:
                    yield kept

    # --- the stream source for streams.follow -------------------------------------------

    async def open_log(self, backend_id: str, since: Position, *,
                       live: bool) -> AsyncGenerator[tuple[Position, str], None]:
        """Ray serves the whole log each time; a live stream replays from the start too."""
        if not live:
            text = (await self._request("GET", f"/api/jobs/{backend_id}/logs"))["logs"]
            for start in range(0, len(text), _SLICE):
                yield start, text[start:start + _SLICE]
            return
        if since == 0:
            # Nothing of the job's output seen yet: poll its log until the first line (or the
            # end), then leave the rest to the websocket.
            async with aclosing(self._first_output(backend_id)) as first:
                async for item in first:
                    yield item
        at = 0
        async with aclosing(self._tail(backend_id)) as chunks:
            async for chunk in chunks:
                yield at, chunk
                at += len(chunk)

    async def _first_output(self, backend_id: str) -> AsyncGenerator[tuple[Position, str], None]:
        deadline = time.monotonic() + _FIRST_OUTPUT_POLL_FOR_S
        while time.monotonic() < deadline:
            info = await self._request("GET", f"/api/jobs/{backend_id}")
            text = (await self._request("GET", f"/api/jobs/{backend_id}/logs"))["logs"]
            splitter = streams.LineSplitter()
            preamble = PreambleFilter(None, backend_id, str(info.get("entrypoint") or ""))
            if preamble.filter(splitter.feed(0, text)) or _status(info).state.terminal:
                yield 0, text
                return
            await asyncio.sleep(_FIRST_OUTPUT_POLL_S)

    async def _tail(self, backend_id: str) -> AsyncGenerator[str, None]:
        """One connection to Ray's log tail websocket (it replays from the start)."""
        import aiohttp

        url = f"{self.address}/api/jobs/{backend_id}/logs/tail"
        async with aiohttp.ClientSession(headers=self._headers()) as session:
            try:
                # Closing early (Ctrl-C, `| head`) should not wait on Ray's close frame for long.
                timeout = aiohttp.ClientWSTimeout(ws_close=1.0)
                async with session.ws_connect(url, heartbeat=30, max_msg_size=0, timeout=timeout) as ws:
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            yield message.data
                        elif message.type == aiohttp.WSMsgType.ERROR:
                            raise StreamDropped(f"websocket error: {ws.exception()}")
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise StreamDropped(str(e).splitlines()[0] if str(e) else type(e).__name__) from None


class LocalBackend(RayBackend):
    """The embedded pool: a Ray head on 127.0.0.1 started on demand, behind its own token."""

    kind = "local"
    env_refs = frozenset({"from_env"})

    def __init__(self, pool_name: str, address: str | None = None) -> None:
        super().__init__(pool_name, address)

    @classmethod
    def from_pool(cls, pool: Pool) -> LocalBackend:
        return cls(pool.name)

    @classmethod
    def from_target(cls, pool_name: str, target: Target) -> LocalBackend:
        # Always the pool running now: a restarted pool has new ports, and its jobs are gone
        # from Ray (the job's 404 then says so), not unreachable at an old address.
        return cls(pool_name)

    @property
    def target(self) -> Target:
        return {"address": self.address}

    def _local(self) -> Any:
        from accelctl.backends.local import LocalRay

        return LocalRay()

    @property
    def address(self) -> str:
        if not self._address:
            running = self._local().status()
            if running is None:
                raise AccelctlError("the local pool is not running (its jobs ended when it stopped)",
                                    "`accelctl local start` starts it; finished jobs' output is kept by accelctl")
            self._address = str(running["address"])
        return self._address

    def token(self) -> str | None:
        return str(self._local().token())

    def _with_secrets(self, submission_id: str, secrets: Mapping[str, str], entrypoint: str) -> str:
        # Not runtime_env: Ray keeps that in its job table (the dashboard shows it) and writes
        # it to logs/runtime_env_agent.log (tests/cli/test_secrets.py catches it there). The
        # head runs here, so a 0600 file in the pool's private dir carries the values; the
        # entrypoint reads it and removes it before the command starts.
        path = self._local().write_secrets(submission_id, exports(secrets))
        quoted = shlex.quote(str(path))
        return f". {quoted} && rm -f -- {quoted} && {entrypoint}"

    def _drop_secrets(self, submission_id: str) -> None:
        self._local().drop_secrets(submission_id)

    async def status(self, backend_id: str) -> JobStatus:
        status = await super().status(backend_id)
        if status.state.terminal:  # a job stopped before it started never read its secrets
            await asyncio.to_thread(self._drop_secrets, backend_id)
        return status

    async def ensure_ready(self, progress: Progress | None = None) -> None:
        self._address = await asyncio.to_thread(self._local().ensure_started, progress)

    async def probe(self) -> Probe:
        running = await asyncio.to_thread(self._local().status)
        if running is None:
            return Probe(True, "stopped; starts on demand")
        return Probe(True, f"running at {running['address']}")


class PreambleFilter:
    """Keep Ray's own lines out of the job's output.

    Ray's job supervisor writes into the job's log: its log records ("Runtime env is
    setting up") and one "Running entrypoint for job ID: ENTRYPOINT" echo, which can
    land after the job's first lines when the job is quick. Records go to `notice`;
    the echo (as many lines as the entrypoint has) is dropped wherever it appears.
    """

    def __init__(self, notice: Notice | None, backend_id: str, entrypoint: str) -> None:
        self.notice = notice
        self.echo = f"Running entrypoint for job {backend_id}: {entrypoint}".split("\n")
        self.echo_left = -1  # -1: echo not met yet; else lines of it still to drop

    def filter(self, batch: LogBatch | None) -> LogBatch | None:
        """The batch without Ray's lines; None when nothing of the job's is left."""
        if batch is None or self.echo_left == 0:
            return batch
        kept = []
        for line in batch.lines:
            if self.echo_left > 0:
                self.echo_left -= 1
            elif self.echo_left < 0 and line == self.echo[0]:
                self.echo_left = len(self.echo) - 1
            elif self.echo_left < 0 and _SUPERVISOR_RECORD.match(line):
                if self.notice:
                    self.notice(f"ray: {line.split(' -- ', 1)[-1]}")
            else:
                kept.append(line)
        # Dropped lines came before the kept ones' end, so the batch's end still holds.
        return batch._replace(lines=kept) if kept else None


def ray_request(spec: JobSpec, placement: Placement) -> dict[str, float]:
    """Ray resources for the job's entrypoint, by accelerator kind.

    GPU -> GPU; TPU -> TPU chips (+ the slice head resource for multi-host);
    Trainium / Inferentia -> neuron_cores; plus CPU and memory when asked. A CPU-only
    job's `count` is its CPUs (unless `resources.cpu` says otherwise).
    """
    request: dict[str, float] = {}
    acc = placement.accelerator
    if spec.resources.cpu is not None:
        request["CPU"] = spec.resources.cpu
    elif acc == CPU:
        request["CPU"] = float(placement.count)
    if spec.resources.memory_bytes is not None:
        request["memory"] = float(spec.resources.memory_bytes)
    if acc == CPU:
        return request
    if acc in chips.TPU:
        gen = chips.TPU[acc]
        request["TPU"] = float(placement.count)
        if placement.nodes > 1:
            request[f"TPU-{gen.ray_prefix}-{placement.count * placement.nodes * gen.cores_per_chip}-head"] = 1.0
    elif acc in chips.NEURON:
        request["neuron_cores"] = float(placement.count * chips.NEURON[acc].cores_per_chip)
    elif acc.startswith("google-tpu"):
        raise InvalidInput(f"{acc} on Ray is not mapped yet", "use a TPU generation Ray knows: v4, v5e, v5p, v6e, 7x")
    else:
        request["GPU"] = float(placement.count)
    return request


def _status(info: dict[str, Any]) -> JobStatus:
    state = _STATES.get(str(info.get("status")), JobState.UNKNOWN)
    # Ray appends the log's last 20,000 characters to a failure message: keep its first clause.
    message = (info.get("message") or "").split("\n", 1)[0].split(", last available logs", 1)[0]
    return JobStatus(state, info.get("driver_exit_code"), message)
