"""Ray Jobs API backend, for the local pool and for remote Ray clusters.

It speaks the Jobs REST API directly (urllib in worker threads, aiohttp for the
log tail websocket), so watching a job never pays the second it takes to import
Ray; Ray's SDK loads only to package and upload a working dir. Ray's log tail replays the whole log on each connection, yields chunks
that can end mid-line and ends silently on a normal close even while the job
runs; `logs` checks the job's state whenever a stream ends and reconnects,
dropping what the replay repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shlex
import urllib.error
import urllib.request
from typing import Any, AsyncIterator

from accelctl.backends.base import JobStatus, LogBatch, Notice
from accelctl.backends.streams import LineSplitter
from accelctl.core.jobspec import JobSpec, Placement
from accelctl.errors import AccelctlError, InvalidInput

# NeuronCores per chip: Ray counts Neuron devices in cores ("neuron_cores").
NEURON_CORES_PER_CHIP = {"aws-trainium": 2, "aws-trainium2": 8, "aws-inferentia2": 2}
# TPU generation -> (Ray's pod-type prefix, TensorCores per chip), for the slice head resource.
TPU_POD_TYPES = {"google-tpu-v4": ("v4", 2), "google-tpu-v5p": ("v5p", 2), "google-tpu-v5e": ("v5litepod", 1),
                 "google-tpu-v6e-trillium": ("v6e", 1)}
_STATES = {"PENDING": "PENDING", "RUNNING": "RUNNING", "SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED",
           "STOPPED": "CANCELLED"}
# A log record of Ray's job supervisor, as it writes them into the job's log.
_SUPERVISOR_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\t[A-Z]+ job_manager\.py:\d+ -- ")
RECONNECT_DELAYS = (0.2, 0.5, 1, 2, 5)
_SLICE = 256 * 1024  # characters of a fetched log split per batch


class RayBackend:
    """Jobs on one Ray cluster, reached at its dashboard address (http://HOST:8265)."""

    def __init__(self, address: str, pool_name: str = "") -> None:
        self.address = address.rstrip("/")
        self.pool_name = pool_name

    # --- plumbing: the Jobs REST API over urllib; the SDK only to upload a working_dir ---

    def _unreachable(self, error: Exception) -> AccelctlError:
        where = f'pool "{self.pool_name}" ' if self.pool_name else ""
        detail = str(getattr(error, "reason", "") or error).splitlines()[0] or type(error).__name__
        return AccelctlError(f"{where}Ray at {self.address} does not answer: {detail}",
                             "is the cluster up? `accelctl local status` for the local pool")

    def _http(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.address + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace").strip().splitlines()
            message = detail[-1] if detail else e.reason
            if e.code == 404:
                raise AccelctlError(f"Ray at {self.address} has no {path.split('/')[3]}: {message}") from None
            raise AccelctlError(f"Ray at {self.address} answered {e.code}: {message}") from None
        except (OSError, ValueError) as e:
            raise self._unreachable(e) from None

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._http, method, path, body)

    # --- the backend protocol ----------------------------------------------------------

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str) -> str:
        request = ray_request(spec, placement)
        await asyncio.to_thread(self._check_fits, request)
        entrypoint = spec.entrypoint
        if spec.timeout_s:
            entrypoint = f"timeout --signal=TERM --kill-after=30 {spec.timeout_s} sh -c {shlex.quote(entrypoint)}"
        body: dict[str, Any] = {
            "entrypoint": entrypoint, "submission_id": f"accelctl-{job_id}",
            "metadata": {"accelctl_id": job_id, "accelctl_name": spec.name},
            "runtime_env": {"env_vars": dict(spec.env)} if spec.env else {},
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
        answer = await self._request("POST", "/api/jobs/", body)
        return str(answer.get("submission_id") or answer.get("job_id"))

    def _upload(self, workdir: Any) -> str:
        """Package and upload a working dir the way Ray's SDK does; returns its gcs:// URI."""
        from ray.job_submission import JobSubmissionClient

        logging.getLogger("ray").setLevel(logging.WARNING)  # Ray configures its logger on import

        try:
            client = JobSubmissionClient(self.address)
            runtime_env = {"working_dir": str(workdir)}
            client._upload_working_dir_if_needed(runtime_env)
        except (ConnectionError, RuntimeError) as e:
            raise self._unreachable(e) from None
        return runtime_env["working_dir"]

    def _check_fits(self, request: dict[str, float]) -> None:
        """Refuse up front what no node of the cluster could ever run (Ray would wait forever)."""
        accel = {k: v for k, v in request.items() if k not in ("CPU", "memory")}
        if not accel:
            return
        nodes = self._http("GET", "/api/v0/nodes?limit=1000")
        alive = [n.get("resources_total", {}) for n in nodes["data"]["result"]["result"] if n.get("state") == "ALIVE"]
        if any(all(res.get(k, 0) >= v for k, v in accel.items()) for res in alive):
            return
        have = sorted({k for res in alive for k in res if not k.startswith(("node:", "memory", "object_store"))})
        want = ", ".join(f"{k}={v:g}" for k, v in accel.items())
        raise InvalidInput(f"no node of the Ray cluster at {self.address} has {want} "
                           f"(its nodes offer: {', '.join(have) or 'nothing'})",
                           "choose a pool with that accelerator, or lower count")

    async def status(self, backend_id: str) -> JobStatus:
        info = await self._request("GET", f"/api/jobs/{backend_id}")
        state = _STATES.get(str(info.get("status")), "UNKNOWN")
        # Ray appends the log's last 20,000 characters to a failure message: keep its first clause.
        message = (info.get("message") or "").split("\n", 1)[0].split(", last available logs", 1)[0]
        return JobStatus(state, info.get("driver_exit_code"), message)

    async def cancel(self, backend_id: str) -> bool:
        return bool((await self._request("POST", f"/api/jobs/{backend_id}/stop")).get("stopped"))

    async def _full_log(self, backend_id: str) -> str:
        return (await self._request("GET", f"/api/jobs/{backend_id}/logs"))["logs"]

    async def logs(self, backend_id: str, *, follow: bool, since: int = 0,
                   notice: Notice | None = None) -> AsyncIterator[LogBatch]:
        splitter = LineSplitter(start=since)
        splitter.restart(0)
        info = await self._request("GET", f"/api/jobs/{backend_id}")
        preamble = PreambleFilter(notice, backend_id, str(info.get("entrypoint") or ""))
        if not follow or _terminal((await self.status(backend_id)).state):
            async for batch in self._replay(backend_id, splitter, preamble):
                yield batch
            return
        attempt = 0
        while True:
            received = False
            try:
                async for chunk in self._tail(backend_id):
                    received = True
                    batch = preamble.filter(splitter.feed(chunk))
                    if batch:
                        yield batch
            except (OSError, asyncio.TimeoutError, RuntimeError) as e:
                if notice:
                    notice(f"log stream dropped ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                           "reconnecting", reconnect=True)
            status = await self.status(backend_id)
            if _terminal(status.state):
                # The stream can close before its last chunk: the full log closes any gap.
                splitter.restart(0)
                async for batch in self._replay(backend_id, splitter, preamble):
                    yield batch
                return
            attempt = 0 if received else attempt + 1
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            if notice and received:
                notice(f"log stream closed while the job is {status.state.lower()}; resuming at offset "
                       f"{splitter.position}", reconnect=True)
            splitter.restart(0)

    async def _replay(self, backend_id: str, splitter: LineSplitter,
                      preamble: PreambleFilter) -> AsyncIterator[LogBatch]:
        """The whole log fetched at once, fed through in slices to keep batches small."""
        text = await self._full_log(backend_id)
        for start in range(0, len(text), _SLICE):
            batch = preamble.filter(splitter.feed(text[start:start + _SLICE]))
            if batch:
                yield batch
        batch = preamble.filter(splitter.flush())
        if batch:
            yield batch

    async def _tail(self, backend_id: str) -> AsyncIterator[str]:
        """One connection to Ray's log tail websocket (it replays from the start)."""
        import aiohttp

        url = f"{self.address}/api/jobs/{backend_id}/logs/tail"
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, heartbeat=30, max_msg_size=0) as ws:
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            yield message.data
                        elif message.type == aiohttp.WSMsgType.ERROR:
                            raise RuntimeError(f"websocket error: {ws.exception()}")
            except aiohttp.ClientError as e:
                raise RuntimeError(str(e) or type(e).__name__) from None


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
    Trainium / Inferentia -> neuron_cores; plus CPU and memory when asked.
    """
    request: dict[str, float] = {}
    acc = placement.accelerator
    if spec.resources.cpu is not None:
        request["CPU"] = spec.resources.cpu
    if spec.resources.memory_bytes is not None:
        request["memory"] = float(spec.resources.memory_bytes)
    if acc == "cpu":
        return request
    if acc.startswith("google-tpu"):
        request["TPU"] = float(spec.count)
        if spec.nodes > 1:
            if acc not in TPU_POD_TYPES:
                raise InvalidInput(f"multi-host {acc} on Ray is not mapped yet", "run it on a single host")
            prefix, cores = TPU_POD_TYPES[acc]
            request[f"TPU-{prefix}-{spec.count * spec.nodes * cores}-head"] = 1.0
    elif acc in NEURON_CORES_PER_CHIP:
        request["neuron_cores"] = float(spec.count * NEURON_CORES_PER_CHIP[acc])
    else:
        request["GPU"] = float(spec.count)
    return request


def _terminal(state: str) -> bool:
    return state in ("SUCCEEDED", "FAILED", "CANCELLED")


