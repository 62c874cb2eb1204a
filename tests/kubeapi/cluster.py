"""What the test API server does besides storing objects: a Job controller, a scheduler
that checks requests against the test nodes, and a "kubelet" that runs each pod's
container command as a local process (the image is ignored) and keeps its output as
timestamped log entries, the way the container runtime does."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.kubeapi.store import ApiError, Store, now_rfc3339

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
DEFAULT_NODES: list[dict[str, Any]] = [{
    "name": "kubeapi-node-0",
    "labels": {"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "test-16cpu-8gpu"},
    "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "8"},
}]
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "m": 1e-3}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (8, "500m", "64Gi") as a number."""
    text = str(value)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


@dataclass
class LogEntry:
    ts: int  # nanoseconds since the epoch, as the runtime stamps it
    text: str
    complete: bool  # False: the container's last output had no newline


@dataclass
class Container:
    """One running pod's process and its log."""

    entries: list[LogEntry] = field(default_factory=list)
    done: bool = False  # the process ended and its output is all in `entries`
    process: subprocess.Popen[bytes] | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)


def rfc3339nano(ns: int) -> str:
    """Go's RFC3339Nano: trailing zeros of the fraction dropped."""
    seconds, frac = divmod(ns, 10**9)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


class Cluster:
    """Jobs, pods and processes of one test API server."""

    def __init__(self, store: Store, nodes: list[dict[str, Any]] | None = None) -> None:
        self.store = store
        self.nodes = nodes or DEFAULT_NODES
        self.containers: dict[tuple[str, str], Container] = {}  # (namespace, pod) -> container
        self.workdir = tempfile.mkdtemp(prefix="kubeapi-")
        self.kill_grace_s = 2.0
        for node in self.nodes:
            store.create("nodes", "", {"metadata": {"name": node["name"], "labels": {
                **node["labels"], "kubernetes.io/hostname": node["name"]}},
                "status": {"allocatable": node["allocatable"], "capacity": node["allocatable"],
                           "conditions": [{"type": "Ready", "status": "True"}]}})

    # --- the Job controller -------------------------------------------------------------

    def job_created(self, job: dict[str, Any]) -> None:
        threading.Thread(target=self._run_job, args=(job,), daemon=True).start()

    def _run_job(self, job: dict[str, Any]) -> None:
        meta, spec = job["metadata"], job["spec"]
        ns, name = meta["namespace"], meta["name"]
        completions = int(spec.get("completions") or 1)
        indexed = spec.get("completionMode") == "Indexed"
        backoff = int(spec.get("backoffLimit", 6))
        failed_total = 0
        started = now_rfc3339()
        self.store.update("jobs", ns, name, lambda j: j.setdefault("status", {}).update(
            {"startTime": started, "active": 0}))
        running = {i: self._create_pod(job, i if indexed else None) for i in range(completions)}
        succeeded: set[int] = set()
        while running:
            time.sleep(0.05)
            if self.store.find("jobs", ns, name) is None:
                return  # deleted: its pods went with it (or were orphaned)
            for index, pod_name in list(running.items()):
                pod = self.store.find("pods", ns, pod_name)
                phase = pod["status"].get("phase") if pod else "Failed"
                if phase == "Succeeded":
                    succeeded.add(index)
                    del running[index]
                elif phase == "Failed":
                    failed_total += 1
                    del running[index]
                    if failed_total <= backoff:
                        running[index] = self._create_pod(job, index if indexed else None)
                    else:
                        self._finish(ns, name, "Failed", "BackoffLimitExceeded",
                                     "Job has reached the specified backoff limit", len(succeeded), failed_total,
                                     running)
                        return
            counts = {"active": len(running), "succeeded": len(succeeded), "failed": failed_total}
            self.store.update("jobs", ns, name, lambda j, c=counts: j["status"].update(c))  # type: ignore[misc]
        self._finish(ns, name, "Complete", "", "", len(succeeded), failed_total, {})

    def _finish(self, ns: str, name: str, kind: str, reason: str, message: str, succeeded: int, failed: int,
                running: dict[int, str]) -> None:
        for pod_name in running.values():  # the active ones: a failed Job's controller stops them
            pod = self.store.find("pods", ns, pod_name)
            if pod and pod["status"].get("phase") not in ("Succeeded", "Failed"):
                self.delete_pod(ns, pod_name)
        stamp = now_rfc3339()
        target = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
        conditions = [{"type": t, "status": "True", "reason": reason or None, "message": message or None,
                       "lastProbeTime": stamp, "lastTransitionTime": stamp} for t in (target, kind)]
        for c in conditions:
            for key in ("reason", "message"):
                if c[key] is None:
                    del c[key]

        def change(job: dict[str, Any]) -> None:
            job["status"].update({"active": 0, "succeeded": succeeded, "failed": failed, "conditions": conditions,
                                  **({"completionTime": stamp} if kind == "Complete" else {})})
        try:
            self.store.update("jobs", ns, name, change)
        except ApiError:
            pass  # deleted meanwhile

    def _create_pod(self, job: dict[str, Any], index: int | None) -> str:
        meta, template = job["metadata"], job["spec"]["template"]
        ns, job_name = meta["namespace"], meta["name"]
        labels = {**(template.get("metadata", {}).get("labels") or {}), "job-name": job_name,
                  "batch.kubernetes.io/job-name": job_name, "controller-uid": meta["uid"],
                  "batch.kubernetes.io/controller-uid": meta["uid"]}
        annotations = dict(template.get("metadata", {}).get("annotations") or {})
        spec = dict(template["spec"])
        if index is not None:
            labels[INDEX_ANNOTATION] = str(index)
            annotations[INDEX_ANNOTATION] = str(index)
            spec.setdefault("hostname", f"{job_name}-{index}")
        prefix = f"{job_name}-{index}-" if index is not None else f"{job_name}-"
        pod = {"metadata": {"name": prefix + uuid.uuid4().hex[:5], "labels": labels, "annotations": annotations,
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                                 "uid": meta["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": spec, "status": {"phase": "Pending", "conditions": []}}
        created = self.store.create("pods", ns, pod)
        self.pod_created(created)
        return str(created["metadata"]["name"])

    # --- scheduler and kubelet ----------------------------------------------------------

    def unschedulable(self, pod: dict[str, Any]) -> str | None:
        """Why no test node can run the pod (the scheduler's message), or None."""
        spec = pod["spec"]
        want: dict[str, float] = {}
        for c in spec.get("containers", []):
            res = c.get("resources") or {}
            for key, value in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
                want[key] = want.get(key, 0) + quantity(value)
        selector = spec.get("nodeSelector") or {}
        reasons: dict[str, int] = {}
        for node in self.nodes:
            labels = {**node["labels"], "kubernetes.io/hostname": node["name"]}
            if any(labels.get(k) != v for k, v in selector.items()):
                reasons["node(s) didn't match Pod's node affinity/selector"] = reasons.get(
                    "node(s) didn't match Pod's node affinity/selector", 0) + 1
                continue
            short = [k for k, v in want.items() if quantity(node["allocatable"].get(k, 0)) < v]
            if not short:
                return None
            for k in short:
                reasons[f"Insufficient {k}"] = reasons.get(f"Insufficient {k}", 0) + 1
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        return (f"0/{len(self.nodes)} nodes are available: {detail}. preemption: 0/{len(self.nodes)} nodes are "
                "available: " + f"{len(self.nodes)} No preemption victims found for incoming pod.")

    def pod_created(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        why = self.unschedulable(pod)
        if why:
            stamp = now_rfc3339()
            self.store.update("pods", ns, name, lambda p: p["status"].update({"conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why,
                 "lastTransitionTime": stamp}]}))
            self.event(ns, pod, "Warning", "FailedScheduling", why, "default-scheduler")
            return
        self.containers[(ns, name)] = Container()
        threading.Thread(target=self._run_pod, args=(pod,), daemon=True).start()

    def event(self, ns: str, obj: dict[str, Any], kind: str, reason: str, message: str, component: str) -> None:
        stamp = now_rfc3339()
        meta = obj["metadata"]
        self.store.create("events", ns, {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {"kind": obj.get("kind", "Pod"), "name": meta["name"], "namespace": ns,
                               "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion", "v1")},
            "reason": reason, "message": message, "type": kind, "source": {"component": component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1})

    def _run_pod(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        container = self.containers[(ns, name)]
        spec = pod["spec"]
        main = spec["containers"][0]
        argv = [*(main.get("command") or []), *(main.get("args") or [])]
        env = dict(os.environ)
        env["HOSTNAME"] = spec.get("hostname") or name
        index = pod["metadata"].get("annotations", {}).get(INDEX_ANNOTATION)
        if index is not None:
            env["JOB_COMPLETION_INDEX"] = index
        for var in main.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
            elif (var.get("valueFrom") or {}).get("fieldRef"):
                path = var["valueFrom"]["fieldRef"].get("fieldPath", "")
                if INDEX_ANNOTATION in path and index is not None:
                    env[var["name"]] = index
                elif path == "metadata.name":
                    env[var["name"]] = name
        secret_env = self._wait_for_secrets(ns, name, main)
        if secret_env is None:
            return  # the pod was deleted while it waited
        env.update(secret_env)
        workdir = main.get("workingDir")
        cwd = workdir if workdir and os.path.isdir(workdir) else self.workdir
        stamp = now_rfc3339()
        def bind(p: dict[str, Any]) -> None:
            p["spec"]["nodeName"] = self.nodes[0]["name"]
            p["status"].update({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp}]})
        self.store.update("pods", ns, name, bind)
        if not argv:
            self._terminated(ns, name, main["name"], 128, "StartError", "no command: the test server ignores images")
            with container.changed:
                container.done = True
                container.changed.notify_all()
            return
        try:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, cwd=cwd, start_new_session=True)
        except OSError as e:
            self._terminated(ns, name, main["name"], 128, "StartError", str(e))
            with container.changed:
                container.done = True
                container.changed.notify_all()
            return
        container.process = process
        self._set_pod(ns, name, {"phase": "Running", "startTime": stamp, "containerStatuses": [
            {"name": main["name"], "ready": True, "restartCount": 0, "image": main.get("image", ""),
             "state": {"running": {"startedAt": stamp}}}]})
        self._pump(container, process)
        code = process.wait()
        if code < 0:
            code = 128 - code  # killed by a signal: the runtime reports 128 + signal
        self._terminated(ns, name, main["name"], code, "Completed" if code == 0 else "Error", "")

    @staticmethod
    def _pump(container: Container, process: subprocess.Popen[bytes]) -> None:
        """The process's output as log entries: one per line, all lines of one read stamped alike
        (a runtime's timestamps need not be unique); a last line without newline at the end."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        pending = b""
        last_ts = 0
        while True:
            data = os.read(fd, 65536)
            ts = max(time.time_ns(), last_ts)
            last_ts = ts
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            if lines:
                new = [LogEntry(ts, line.decode(errors="replace"), True) for line in lines]
                with container.changed:
                    container.entries.extend(new)
                    container.changed.notify_all()
        with container.changed:
            if pending:
                container.entries.append(LogEntry(last_ts, pending.decode(errors="replace"), False))
            container.done = True
            container.changed.notify_all()

    def _terminated(self, ns: str, name: str, container_name: str, code: int, reason: str, message: str) -> None:
        stamp = now_rfc3339()
        state = {"exitCode": code, "reason": reason, "startedAt": stamp, "finishedAt": stamp}
        if message:
            state["message"] = message
        self._set_pod(ns, name, {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [
            {"name": container_name, "ready": False, "restartCount": 0, "state": {"terminated": state}}]})

    def _wait_for_secrets(self, ns: str, name: str, main: dict[str, Any]) -> dict[str, str] | None:
        """The container's `secretKeyRef` values. As the kubelet does, a missing Secret or key
        leaves the container waiting (CreateContainerConfigError, the kubelet's message) and is
        tried again until it appears; None once the pod is gone."""
        while True:
            values, problem = {}, ""
            for var in main.get("env") or []:
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if not ref:
                    continue
                secret = self.store.find("secrets", ns, ref["name"])
                if secret is None:
                    problem = f'secret "{ref["name"]}" not found'
                    break
                data = secret.get("data") or {}
                if ref["key"] not in data:
                    problem = f"couldn't find key {ref['key']} in Secret {ns}/{ref['name']}"
                    break
                values[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
            if not problem:
                return values
            if self.store.find("pods", ns, name) is None:
                return None
            self._set_pod(ns, name, {"phase": "Pending", "containerStatuses": [
                {"name": main["name"], "ready": False, "restartCount": 0, "image": main.get("image", ""),
                 "state": {"waiting": {"reason": "CreateContainerConfigError", "message": problem}}}]})
            time.sleep(0.2)

    def _set_pod(self, ns: str, name: str, status: dict[str, Any]) -> None:
        try:
            self.store.update("pods", ns, name, lambda p: p["status"].update(status))
        except ApiError:
            pass  # deleted meanwhile

    def delete_pod(self, ns: str, name: str) -> dict[str, Any]:
        """Stop the pod's process (TERM, then KILL after the grace period) and remove it."""
        obj = self.store.delete("pods", ns, name)
        container = self.containers.pop((ns, name), None)
        if container and container.process and container.process.poll() is None:
            process = container.process
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return obj

            def reap() -> None:
                try:
                    process.wait(self.kill_grace_s)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait()
            threading.Thread(target=reap, daemon=True).start()
        return obj

    def delete_job(self, ns: str, name: str, propagation: str) -> dict[str, Any]:
        """Remove a Job; with Background or Foreground propagation its dependents too (its pods,
        and Secrets whose only owner it is); batch/v1's default, like the real server's, is to
        orphan them."""
        obj = self.store.delete("jobs", ns, name)
        if propagation in ("Background", "Foreground"):
            secrets, _ = self.store.list("secrets", ns)
            for secret in secrets:
                owners = secret["metadata"].get("ownerReferences") or []
                if owners and all(o.get("uid") == obj["metadata"]["uid"] for o in owners):
                    self.store.delete("secrets", ns, secret["metadata"]["name"])
            pods, _ = self.store.list("pods", ns, f"batch.kubernetes.io/controller-uid={obj['metadata']['uid']}")
            for pod in pods:
                try:
                    self.delete_pod(ns, pod["metadata"]["name"])
                except ApiError:
                    pass
        return obj

    def shutdown(self) -> None:
        """Kill every process still running (orphans included)."""
        for container in list(self.containers.values()):
            if container.process and container.process.poll() is None:
                try:
                    os.killpg(container.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
