"""Kubernetes backend: jobs as batch/v1 Jobs on a kubeconfig context and namespace.

Submit renders the spec (`k8s_manifests.render`: a headless Service first for several
nodes, then the Job) and creates the objects with server-side strict field validation.
Status comes from the Job's conditions and its pods (exit code from the container's
terminated state; while pods are Pending, why: the scheduler's message, an image pull
error, a quota refusal). Logs come from every pod (`k8s_logs`). Cancel deletes the Job and
Service with Background propagation and leaves an Event saying accelctl cancelled it, so
that any later look at the job (from any process) reports CANCELLED, not "gone".

The `kubernetes` client loads only here, on first use; its calls run in worker threads.
Every answer is read as plain JSON (no generated models), so client versions matter little.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

from accelctl.backends import k8s_logs
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
from accelctl.core.jobspec import JobSpec
from accelctl.core.placement import Placement
from accelctl.core.pools import KubernetesPool, Pool
from accelctl.errors import AccelctlError, InvalidInput

REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
CANCEL_EVENT_SUFFIX = ".accelctl-cancelled"
_WAITING_OK = {"ContainerCreating", "PodInitializing"}


class KubernetesBackend(Backend):
    """Jobs on one namespace of a Kubernetes cluster, reached through a kubeconfig context."""

    kind = "kubernetes"
    env_refs = frozenset({"secret", "from_env"})  # secretKeyRef; from_env values go into a Secret of the job's

    def __init__(self, pool_name: str, context: str | None, namespace: str, kubeconfig: str | None = None) -> None:
        super().__init__(pool_name)
        self.context = context
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self._client: Any = None
        # What `probe` counts on the nodes: the pool's device resource, on nodes matching its selector.
        self.resource: str | None = None
        self.node_selector: dict[str, str] = {}

    @classmethod
    def from_pool(cls, pool: Pool) -> KubernetesBackend:
        from accelctl.core import chips

        assert isinstance(pool, KubernetesPool)
        backend = cls(pool.name, pool.context, pool.namespace, os.environ.get("KUBECONFIG") or None)
        backend.resource = chips.kubernetes_resource(pool.accelerator)
        backend.node_selector = dict(pool.node_selector)
        return backend

    @classmethod
    def from_target(cls, pool_name: str, target: Target) -> KubernetesBackend:
        return cls(pool_name, target.get("context"), target.get("namespace", "default"),
                   target.get("kubeconfig") or os.environ.get("KUBECONFIG") or None)

    @property
    def target(self) -> Target:
        found = {"context": self.context, "namespace": self.namespace, "kubeconfig": self.kubeconfig}
        return {k: v for k, v in found.items() if v}

    @property
    def where(self) -> str:
        return f'pool "{self.pool_name}" (context {self.context or "(current)"}, namespace {self.namespace})'

    # --- the client and its errors ------------------------------------------------------

    def api_client(self) -> Any:
        """The client for the pool's context (built once; ConfigException becomes one line)."""
        if self._client is None:
            from kubernetes import config

            path = os.path.expanduser(self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
            if not any(os.path.exists(p) for p in path.split(os.pathsep)):
                raise AccelctlError(f"{self.where}: no kubeconfig at {path}",
                                    "set $KUBECONFIG or write ~/.kube/config (e.g. `gcloud container clusters "
                                    "get-credentials`, `aws eks update-kubeconfig`)")
            try:
                self._client = config.new_client_from_config(config_file=path, context=self.context)
            except config.ConfigException as e:
                if self.context and f"name {self.context} " in str(e):
                    raise InvalidInput(f"{self.where}: kubeconfig {path} has no context {self.context}",
                                       "`kubectl config get-contexts` lists them; fix the pool's `context:`"
                                       ) from None
                raise AccelctlError(f"{self.where}: kubeconfig {path} is not usable: {e}") from None
            if self.context is None:
                from kubernetes.config import list_kube_config_contexts

                _, current = list_kube_config_contexts(config_file=path)
                self.context = current["name"]
        return self._client

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api_client())

    def error(self, e: Exception, what: str) -> AccelctlError:
        """One line for a failed call: refused (401/403), missing, invalid, or unreachable."""
        if isinstance(e, AccelctlError):
            return e
        status = getattr(e, "status", None)
        if status is not None:
            message = _status_message(getattr(e, "body", None)) or str(getattr(e, "reason", "")) or str(status)
            if status == 401:
                return AccelctlError(f"{self.where}: the API server refused the credentials (401): {message}",
                                     "refresh them, e.g. `gcloud container clusters get-credentials` or "
                                     "`aws eks update-kubeconfig`")
            if status == 403:
                return AccelctlError(f"{self.where}: not allowed (403): {message}",
                                     "ask for a Role that allows jobs, pods, pods/log, services and events")
            if status == 404 and f'namespaces "{self.namespace}" not found' in message:
                return InvalidInput(f"{self.where}: namespace {self.namespace} does not exist",
                                    f"`kubectl create namespace {self.namespace}`, or fix the pool's `namespace:`")
            if status in (400, 422):
                return InvalidInput(f"{self.where}: the API server rejected {what}: {message}")
            return AccelctlError(f"{self.where}: {what}: {message} ({status})")
        if isinstance(e, ValueError):  # the client's own check of a request body (pydantic)
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return InvalidInput(f"{self.where}: the kubernetes client refused {what}: {first}")
        detail = str(getattr(e, "reason", "") or e).splitlines()[0] if str(e) else type(e).__name__
        host = getattr(getattr(self._client, "configuration", None), "host", "the API server")
        return AccelctlError(f"{self.where}: cannot reach {host}: {detail}",
                             "is the cluster up, and the kubeconfig current?")

    async def call(self, what: str, api: str, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API call in a worker thread; its JSON answer."""
        def run() -> dict[str, Any]:
            target = getattr(self.core() if api == "core" else self.batch(), method)
            response = target(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            return k8s_logs.decode(response)
        try:
            return await asyncio.to_thread(run)
        except AccelctlError:
            raise
        except Exception as e:  # noqa: BLE001 (ApiException, urllib3 and socket errors: sorted by self.error)
            error = self.error(e, what)
            if getattr(e, "status", None) == 404 and not isinstance(error, InvalidInput):
                raise _Missing(error.message) from None
            raise error from None

    async def read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.call(f"pod {name}", "core", "read_namespaced_pod", name, self.namespace)
        except _Missing:
            return None

    # --- the contract ---------------------------------------------------------------------

    async def probe(self) -> Probe:
        """The context answers and the namespace exists; with a device resource, how many nodes
        (matching the pool's node selector) offer it, and how many devices are not requested."""
        try:
            await self.call("jobs", "batch", "list_namespaced_job", self.namespace, limit=1)
            await self.call(f"namespace {self.namespace}", "core", "read_namespace", self.namespace)
            detail = f"context {self.context}, namespace {self.namespace}"
            if self.resource:
                detail += ", " + await self._capacity(self.resource)
        except _Missing:
            return Probe(False, f"{self.where}: namespace {self.namespace} does not exist")
        except AccelctlError as e:
            return Probe(False, e.message)
        return Probe(True, detail)

    async def _capacity(self, resource: str) -> str:
        selector = ",".join(f"{k}={v}" for k, v in sorted(self.node_selector.items()))
        nodes = (await self.call("nodes", "core", "list_node", label_selector=selector))["items"]
        offering = {n["metadata"]["name"]: int(n.get("status", {}).get("allocatable", {}).get(resource, 0))
                    for n in nodes}
        offering = {name: count for name, count in offering.items() if count}
        if not offering:
            return f"no node offers {resource}"
        pods = (await self.call("pods", "core", "list_pod_for_all_namespaces"))["items"]
        used = sum(int(c.get("resources", {}).get("requests", {}).get(resource, 0))
                   for p in pods if p.get("spec", {}).get("nodeName") in offering
                   and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
                   for c in p["spec"].get("containers", []))
        total = sum(offering.values())
        return f"{len(offering)} node(s) offer {total} {resource}, {total - used} free"

    def plan(self, spec: JobSpec, placement: Placement) -> dict[str, Any]:
        from accelctl.backends.k8s_manifests import render

        return {"manifests": render(spec, placement, "dry-run")}

    async def submit(self, spec: JobSpec, placement: Placement, job_id: str,
                     secrets: Mapping[str, str] | None = None) -> str:
        from accelctl.backends.k8s_manifests import env_secret, render

        if spec.workdir:
            raise InvalidInput(f"{self.where}: `workdir` cannot be shipped to Kubernetes",
                               "bake the code into the job's image, or use a Ray or SSH pool")
        objects = [_quantities_as_text(o) for o in render(spec, placement, job_id)]
        job = next(o for o in objects if o["kind"] == "Job")
        name = job["metadata"]["name"]
        for obj in objects:
            if obj["kind"] not in ("Service", "Job"):
                raise InvalidInput(f"{self.where}: cannot submit a {obj['kind']} yet",
                                   "`accelctl render` prints it for `kubectl apply -f -`")
        created: list[tuple[str, str, str]] = []
        try:
            secret = None
            if secrets:  # first, so the job's pods find it; it goes with the Job (owner) when that is deleted
                secret = env_secret(spec, job_id, name, secrets)
                await self.call(f"Secret {secret['metadata']['name']}", "core", "create_namespaced_secret",
                                self.namespace, secret, field_validation="Strict")
                created.append(("core", "delete_namespaced_secret", secret["metadata"]["name"]))
            for obj in objects:
                if obj["kind"] == "Service":
                    await self.call(f"Service {name}", "core", "create_namespaced_service", self.namespace, obj,
                                    field_validation="Strict")
                    created.append(("core", "delete_namespaced_service", obj["metadata"]["name"]))
                else:
                    made = await self.call(f"Job {name}", "batch", "create_namespaced_job", self.namespace, obj,
                                           field_validation="Strict")
                    created.append(("batch", "delete_namespaced_job", name))  # with its pods (below)
                    if secret is not None:
                        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                 "uid": made["metadata"]["uid"], "blockOwnerDeletion": False}
                        await self.call(f"Secret {secret['metadata']['name']}", "core", "patch_namespaced_secret",
                                        secret["metadata"]["name"], self.namespace,
                                        {"metadata": {"ownerReferences": [owner]}})
        except AccelctlError:
            for api, method, obj_name in reversed(created):  # nothing left behind
                try:
                    await self.call(obj_name, api, method, obj_name, self.namespace, propagation_policy="Background")
                except AccelctlError:
                    pass
            raise
        return str(name)

    async def _job(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.call(f"job {name}", "batch", "read_namespaced_job", name, self.namespace)
        except _Missing:
            return None

    async def pods(self, name: str) -> list[dict[str, Any]]:
        """The job's pods, newest last, one per completion index (a retried index: its newest)."""
        found = await self.call(f"pods of job {name}", "core", "list_namespaced_pod", self.namespace,
                                label_selector=f"{JOB_NAME_LABEL}={name}")
        newest: dict[str, dict[str, Any]] = {}
        for pod in sorted(found.get("items", []), key=lambda p: p["metadata"].get("creationTimestamp") or ""):
            index = (pod["metadata"].get("labels") or {}).get(INDEX_LABEL, pod["metadata"]["name"])
            newest[index] = pod
        return [newest[k] for k in sorted(newest, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))]

    async def status(self, backend_id: str) -> JobStatus:
        job = await self._job(backend_id)
        if job is None:
            return await self._gone(backend_id)
        status = job.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in conditions:
            return JobStatus(JobState.SUCCEEDED, 0)
        if "Failed" in conditions:
            pods = await self.pods(backend_id)
            codes = [k8s_logs.pod_exit_code(p) for p in pods]
            code = next((c for c in codes if c), None)
            c = conditions["Failed"]
            return JobStatus(JobState.FAILED, code, ": ".join(filter(None, (c.get("reason"), c.get("message")))))
        if job["spec"].get("suspend"):
            return JobStatus(JobState.PENDING, message="suspended (waiting in its queue)")
        pods = await self.pods(backend_id)
        if any(p.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed") for p in pods):
            return JobStatus(JobState.RUNNING)
        return JobStatus(JobState.PENDING, message=await self.pending_reason(backend_id, pods))

    async def pending_reason(self, name: str, pods: list[dict[str, Any]]) -> str:
        """Why the job's pods do not run: a container waiting on something other than its start
        (image pull errors), the scheduler's message, or the newest warning event (quota)."""
        for pod in pods:
            for cs in pod.get("status", {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") and waiting["reason"] not in _WAITING_OK:
                    return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
            for c in pod.get("status", {}).get("conditions") or []:
                if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("message"):
                    return f"{c.get('reason', 'Unschedulable')}: {c['message']}"
        names = [name] + [p["metadata"]["name"] for p in pods]
        events = await self.call("events", "core", "list_namespaced_event", self.namespace)
        warnings = [e for e in events.get("items", []) if e.get("type") == "Warning"
                    and (e.get("involvedObject") or {}).get("name") in names]
        if warnings:
            last = max(warnings, key=lambda e: e.get("lastTimestamp") or "")
            return f"{last.get('reason')}: {last.get('message')}"
        return "waiting for its pods to start" if pods else "waiting for its pods to be created"

    async def _gone(self, name: str) -> JobStatus:
        """A Job that no longer exists: cancelled by accelctl (its Event says so; pods may still
        be stopping), else an error."""
        try:
            await self.call("event", "core", "read_namespaced_event", name + CANCEL_EVENT_SUFFIX, self.namespace)
        except _Missing:
            raise AccelctlError(f"{self.where} has no job {name}",
                                "it was deleted, or removed after it finished (ttlSecondsAfterFinished)") from None
        stopping = [p for p in await self.pods(name) if p.get("status", {}).get("phase") in ("Pending", "Running")]
        if stopping:
            return JobStatus(JobState.RUNNING, message=f"cancelled; {len(stopping)} pod(s) still stopping")
        return JobStatus(JobState.CANCELLED, message="cancelled")

    async def cancel(self, backend_id: str) -> bool:
        job = await self._job(backend_id)
        if job is None or (await self.status(backend_id)).state.terminal:
            return False
        await self._leave_cancel_event(job)
        try:
            await self.call(f"job {backend_id}", "batch", "delete_namespaced_job", backend_id, self.namespace,
                            propagation_policy="Background")
        except _Missing:
            return False
        try:
            await self.call(f"service {backend_id}", "core", "delete_namespaced_service", backend_id,
                            self.namespace)
        except _Missing:
            pass  # a one-node job has none
        return True

    async def _leave_cancel_event(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": meta["name"] + CANCEL_EVENT_SUFFIX, "namespace": self.namespace,
                              "labels": {k: v for k, v in (meta.get("labels") or {}).items()
                                         if k.startswith(("accelctl.dev/", "app.kubernetes.io/"))}},
                 "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                    "namespace": self.namespace, "uid": meta.get("uid")},
                 "reason": "Cancelled", "message": "cancelled by accelctl", "type": "Normal",
                 "source": {"component": "accelctl"}}
        try:
            await self.call("cancel event", "core", "create_namespaced_event", self.namespace, event)
        except AccelctlError as e:
            raise AccelctlError(f"{e.message} (accelctl records a cancel as an Event before deleting the Job)",
                                e.hint) from None

    async def logs(self, backend_id: str, *, follow: bool, since: Position = 0,
                   notice: Notice | None = None) -> AsyncGenerator[LogBatch, None]:
        job = await self._job(backend_id)
        if job is None:
            await self._gone(backend_id)  # raises unless cancelled
            return
        expected = int(job["spec"].get("completions") or 1)
        pods = await self.pods(backend_id)
        said = ""
        def waiting() -> bool:
            return len(pods) < expected or all(p.get("status", {}).get("phase") == "Pending" for p in pods)

        while follow and waiting():
            status = await self.status(backend_id)
            if status.state.terminal:
                break
            if status.message and status.message != said and notice:
                notice(f"pending: {status.message}")
                said = status.message
            await asyncio.sleep(1.0)
            pods = await self.pods(backend_id)
        source = k8s_logs.PodLog(self, self.namespace, self.error)
        names = [p["metadata"]["name"] for p in pods]
        if not names:
            return
        async with aclosing(k8s_logs.merged(source, names, follow=follow, since=since, notice=notice)) as batches:
            async for batch in batches:
                yield batch


class _Missing(AccelctlError):
    """A 404 for the object asked for (callers decide what absence means)."""


def _status_message(body: Any) -> str:
    try:
        return str(json.loads(body).get("message", "")) if body else ""
    except (ValueError, AttributeError):
        return str(body).splitlines()[0] if body else ""


def _quantities_as_text(obj: Any) -> Any:
    """The object with every container resource quantity as a string ("2", not 2).

    The API server takes either, but the `kubernetes` client (v33 and later) checks request
    bodies against its models, whose quantities are strings, and refuses a plain number.
    """
    if isinstance(obj, list):
        return [_quantities_as_text(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    out = {key: _quantities_as_text(value) for key, value in obj.items()}
    for kind in ("requests", "limits"):
        if isinstance(out.get(kind), dict):
            out[kind] = {name: str(value) for name, value in out[kind].items()}
    return out
