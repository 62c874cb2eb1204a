"""Kubernetes manifests for a job spec: plain dicts, no `kubernetes` import (as fast as `ls`).

`render` gives the objects in apply order: the headless Service first for a multi-node job,
then the Job (an Indexed Job for several nodes) or, with `jobset=True`, one JobSet.
`render_rayjob` gives a KubeRay RayJob for clusters that run the KubeRay operator.

Every value that Kubernetes, GKE, EKS or a device plugin dictates follows
../shared/reference/k8s-ray-conventions.md; comments cite its section ("conv. 2.1"), which
names the upstream page. Impossible requests raise before anything is rendered: a problem
of the spec is located in its file (`ProblemsFound`), a problem of the pool is a `PoolProblem`
naming the pool field (the CLI locates it in the inventory file).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accelctl.core import chips
from accelctl.core.jobspec import EnvRef, JobSpec
from accelctl.core.models import CPU
from accelctl.core.placement import Placement
from accelctl.core.pools import KubernetesPool
from accelctl.core.problems import Problem, ProblemsFound
from accelctl.errors import InvalidInput

MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_ID_LABEL = "accelctl.dev/job-id"
JOB_NAME_LABEL = "accelctl.dev/job-name"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # Kueue's LocalQueue label (issue 9, item 1)
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # conv. 3.1
CONTAINER = "main"
TTL_AFTER_FINISHED_S = 86400  # finished Jobs stay a day, so their logs can still be read
MASTER_PORT = 29500  # torchrun's default rendezvous port
TPU_RUNTIME_PORT = 8471  # conv. 2.1 "ports seen"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"  # conv. 2.2
RAYJOB_API = "ray.io/v1"  # conv. 6
SLICE_JOB = "slice"  # the JobSet's one replicated job
# Common EFA env (conv. 3.2, secondary: axlearn's Neuron scripts).
EFA_ENV = {"FI_PROVIDER": "efa", "FI_EFA_USE_DEVICE_RDMA": "1", "FI_EFA_FORK_SAFE": "1"}

Manifest = dict[str, Any]


class PoolProblem(InvalidInput):
    """The pool cannot run this job as configured; `field` names the pool field at fault."""

    def __init__(self, pool: str, field: str, message: str) -> None:
        super().__init__(f'pool "{pool}": {field}: {message}')
        self.pool = pool
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class Shape:
    """What each pod gets and how many there are: the resolved, checked request."""

    family: str | None  # chips.FAMILIES key; None for CPU jobs
    resource: str | None
    per_pod: int  # accelerator devices per pod
    pods: int  # pods per slice (hosts)
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    efa: int  # EFA devices per pod (0: none)
    topology: str | None = None


def render(spec: JobSpec, placement: Placement, job_id: str, *, jobset: bool = False,
           resource: str | None = None, slices: int = 1) -> list[dict[str, Any]]:
    """The Kubernetes objects that run `spec` on `placement.pool`, in apply order.

    One node: a batch/v1 Job. Several: a headless Service, then an Indexed Job with
    completions = parallelism = nodes (conv. 2.1, 3.1). `jobset=True`: one JobSet of
    `slices` replicas (conv. 2.2; it makes its own headless Service). `resource` is the
    catalog's `kubernetes.resource` for the accelerator (default: `chips.kubernetes_resource`).
    Raises ProblemsFound (the spec's fault, located) or PoolProblem (the pool's).
    """
    pool, shape = _check(spec, placement, resource, slices, jobset)
    if jobset:
        return [_jobset(spec, pool, shape, job_id, slices)]
    name = object_name(spec.name, job_id, reserve=len(str(shape.pods - 1)) + 1)
    multi = shape.pods > 1
    pod = _pod_spec(spec, pool, shape, name, rendezvous=f"{name}-0.{name}" if multi else None,
                    subdomain=name if multi else None)
    job: Manifest = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _metadata(spec, pool, job_id, name, queue=True),
        "spec": _job_spec(spec, pod, _labels(spec, job_id), shape.pods),
    }
    return [_headless_service(spec, pool, job_id, name), job] if multi else [job]


def render_rayjob(spec: JobSpec, placement: Placement, job_id: str, *,
                  resource: str | None = None) -> list[dict[str, Any]]:
    """The job as one KubeRay `ray.io/v1` RayJob (conv. 6): a head, and a worker group with the
    accelerator resources, selectors and tolerations of `render` (TPU: one replica of
    `numOfHosts` hosts). The cluster is shut down when the job finishes."""
    pool, shape = _check(spec, placement, resource, 1, False)
    name = object_name(spec.name, job_id, reserve=16)  # KubeRay appends -raycluster-xxxxx
    head = _ray_pod(spec, pool, _no_accelerator(), name, "ray-head")
    head["containers"][0].pop("resources")  # the head runs the driver only; the pool's defaults apply
    head["containers"][0]["ports"] = [{"name": "gcs", "containerPort": 6379},
                                      {"name": "dashboard", "containerPort": 8265},
                                      {"name": "client", "containerPort": 10001}]
    worker = _ray_pod(spec, pool, shape, name, "ray-worker")
    tpu = shape.family == "tpu"
    replicas = 1 if tpu else shape.pods
    group: Manifest = {
        "groupName": "workers", "replicas": replicas, "minReplicas": replicas, "maxReplicas": replicas,
        "rayStartParams": {}, "template": {"metadata": {"labels": _labels(spec, job_id)}, "spec": worker}}
    if tpu:
        group["numOfHosts"] = shape.pods  # conv. 6: hosts per replica (4 for v6e 4x4)
    spec_out: Manifest = {
        "entrypoint": spec.entrypoint,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,  # conv. 6: only with shutdownAfterJobFinishes
        "backoffLimit": spec.retries,
        "rayClusterSpec": {
            "headGroupSpec": {"rayStartParams": {},
                              "template": {"metadata": {"labels": _labels(spec, job_id)}, "spec": head}},
            "workerGroupSpecs": [group]},
    }
    if spec.timeout_s is not None:
        spec_out["activeDeadlineSeconds"] = spec.timeout_s
    return [{"apiVersion": RAYJOB_API, "kind": "RayJob",
             "metadata": _metadata(spec, pool, job_id, name, queue=True), "spec": spec_out}]


def _ray_pod(spec: JobSpec, pool: KubernetesPool, shape: Shape, name: str, container: str) -> Manifest:
    """A Ray node's pod: KubeRay writes the container's command (`ray start`) and restarts
    pods itself, so neither is set; the entrypoint goes to the RayJob's `entrypoint`."""
    pod = _pod_spec(spec, pool, shape, name, rendezvous=None, container=container)
    del pod["restartPolicy"]
    del pod["containers"][0]["command"]
    return pod


def object_name(job: str, job_id: str, reserve: int = 0) -> str:
    """`<job>-<job_id>` as an RFC 1035 label (a Service name must start with a letter), short
    enough that `reserve` more characters (pod index suffixes) stay within 63."""
    room = 63 - reserve - len(job_id) - 1
    base = re.sub(r"[^a-z0-9-]", "-", job.lower())[: max(room, 1)].strip("-") or "job"
    if not base[0].isalpha():
        base = ("j" + base)[: max(room, 1)].rstrip("-")
    return f"{base}-{job_id}"


def as_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Objects as one `v1` List (what `kubectl apply -f -` takes as JSON)."""
    return {"apiVersion": "v1", "kind": "List", "items": objects}


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Objects as YAML documents separated by `---`."""
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a shared dict is written out in full: kubectl users read these

    return "---\n".join(yaml.dump(o, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000)
                         for o in objects)


# --- checks ---------------------------------------------------------------------------------

def _check(spec: JobSpec, placement: Placement, resource: str | None, slices: int,
           jobset: bool) -> tuple[KubernetesPool, Shape]:
    """The checked shape of the request, or the reason it cannot run on this pool."""
    pool = placement.pool
    if not isinstance(pool, KubernetesPool):
        raise InvalidInput(f'pool "{pool.name}" is a {pool.backend} pool; manifests are for kubernetes pools')
    if not spec.image:
        problem = spec.problem("image", "a Kubernetes job needs an `image` (the container to run)")
        if not problem.line:  # not in the file: point at its top, where the field would go
            problem = Problem(problem.path, 1, 1, problem.key, problem.message)
        raise ProblemsFound([problem])
    if slices < 1:
        raise InvalidInput("--slices must be at least 1")
    if slices > 1 and not jobset:
        raise InvalidInput("several slices need a JobSet (--jobset)")
    accelerator = placement.accelerator
    if accelerator == CPU:
        return pool, _cpu_shape(pool, placement, slices)
    resource = resource or chips.kubernetes_resource(accelerator)
    family = chips.family(resource)
    if resource is None:
        raise InvalidInput(f"no Kubernetes resource is known for {accelerator}",
                           "add `kubernetes: {resource: ...}` to its catalog entry")
    selector = dict(pool.node_selector)
    tolerations = _tolerations(family, pool)
    if family == "tpu":
        return pool, _tpu_shape(spec, placement, pool, resource, selector, tolerations, slices)
    _check_nodes(pool, placement.nodes * slices)
    if placement.count > pool.count:
        raise PoolProblem(pool.name, "count", f"has {pool.count} chip(s) per node, the job needs {placement.count}")
    efa = 0
    if family == "neuron":
        efa = _neuron(spec, placement, pool, selector)
    elif pool.instance_type:
        selector[chips.INSTANCE_TYPE_LABEL] = pool.instance_type  # conv. 1.1
        efa = (pool.efa or 0) if placement.nodes > 1 else 0
    return pool, Shape(family, resource, placement.count, placement.nodes, selector, tolerations, efa)


def _cpu_shape(pool: KubernetesPool, placement: Placement, slices: int) -> Shape:
    _check_nodes(pool, placement.nodes * slices)
    return Shape(None, None, 0, placement.nodes, dict(pool.node_selector), _tolerations(None, pool), 0)


def _check_nodes(pool: KubernetesPool, nodes: int) -> None:
    if nodes > pool.nodes:
        raise PoolProblem(pool.name, "nodes", f"has {pool.nodes} node(s), the job needs {nodes}")


def _tolerations(family: str | None, pool: KubernetesPool) -> list[dict[str, Any]]:
    """The family's taint tolerated with `operator: Exists` (conv. 1.2, 1.5, 1.6), then the pool's."""
    out: list[dict[str, Any]] = []
    taint = chips.FAMILIES[family].taint if family else None
    if taint:
        out.append({"key": taint, "operator": "Exists", "effect": "NoSchedule"})
    for toleration in pool.tolerations:
        if toleration.manifest() not in out:
            out.append(toleration.manifest())
    return out


def _tpu_shape(spec: JobSpec, placement: Placement, pool: KubernetesPool, resource: str,
               selector: dict[str, str], tolerations: list[dict[str, Any]], slices: int) -> Shape:
    """TPU: all chips of the VM per pod, one pod per VM, and the two GKE node selectors (conv. 1.5, 2.1)."""
    accelerator = placement.accelerator
    if spec.topology and pool.topology and spec.topology != pool.topology:
        raise ProblemsFound([spec.problem("topology", f'pool "{pool.name}" has {pool.topology} slices, '
                                          f"not {spec.topology}")])
    topology = spec.topology or pool.topology
    if topology is None:
        raise ProblemsFound([spec.problem("topology", "a TPU job on Kubernetes needs a slice topology "
                                          "(set topology: in the spec or the pool)")])
    try:
        per_host, hosts = chips.tpu_hosts(accelerator, topology, pool.machine_type)
    except ValueError as e:
        field = "machine_type" if pool.machine_type and chips.TPU[accelerator].valid(topology) else "topology"
        if field == "topology" and not spec.topology:
            raise PoolProblem(pool.name, "topology", str(e)) from None
        if field == "topology":
            raise ProblemsFound([spec.problem("topology", str(e))]) from None
        raise PoolProblem(pool.name, field, str(e)) from None
    if placement.count != per_host or placement.nodes != hosts:
        key = "count" if placement.count != per_host else "nodes"
        machine = f" of {pool.machine_type} VMs" if pool.machine_type else ""
        raise ProblemsFound([spec.problem(key, f"a {topology} slice{machine} has {per_host} chip(s) on each of "
                                          f"{hosts} host(s) (GKE requests all chips of a VM per pod); "
                                          f"the job asks {placement.count} x {placement.nodes}")])
    if per_host > pool.count:
        raise PoolProblem(pool.name, "count", f"has {pool.count} chip(s) per node, the job needs {per_host}")
    if slices > 1 and hosts == 1:
        # conv. 2.2: multislice takes multi-host slices only.
        raise InvalidInput(f"a {topology} slice is single-host; multislice JobSets take multi-host slices only")
    _check_nodes(pool, hosts * slices)
    gen = chips.TPU[accelerator]
    selector[chips.TPU_ACCELERATOR_LABEL] = gen.gke_accelerator
    selector[chips.TPU_TOPOLOGY_LABEL] = topology
    conflict = {k: v for k, v in pool.node_selector.items() if selector.get(k) != v}
    if conflict:
        key, value = next(iter(conflict.items()))
        raise PoolProblem(pool.name, "node_selector", f'"{key}: {value}" contradicts the slice '
                          f"({key}: {selector[key]})")
    return Shape("tpu", resource, per_host, hosts, selector, tolerations, 0, topology)


def _neuron(spec: JobSpec, placement: Placement, pool: KubernetesPool, selector: dict[str, str]) -> int:
    """Trainium/Inferentia: the instance-type selector, and the EFA devices multi-node jobs need
    (conv. 1.6, 3.2). Returns the EFA devices per pod."""
    instance = chips.AWS_INSTANCES.get(pool.instance_type or "")
    if pool.instance_type:
        selector[chips.INSTANCE_TYPE_LABEL] = pool.instance_type
    if instance is not None:
        if instance.accelerator != placement.accelerator:
            raise PoolProblem(pool.name, "instance_type", f"a {instance.name} has {instance.accelerator}, "
                              f"not {placement.accelerator}")
        if placement.count > instance.devices:
            raise ProblemsFound([spec.problem("count", f"a {instance.name} has {instance.devices} Neuron "
                                              f"device(s); the job asks {placement.count}")])
    if placement.nodes == 1:
        return 0
    efa = pool.efa if pool.efa is not None else (instance.efa if instance else None)
    if efa is None:
        raise PoolProblem(pool.name, "efa", f"a multi-node Neuron job needs EFA; the EFA devices of "
                          f"{pool.instance_type or 'this pool'} are not known: set efa: in the pool")
    if efa == 0:
        what = f"a {instance.name} has no EFA" if instance and instance.efa == 0 else "the pool has efa: 0"
        raise PoolProblem(pool.name, "instance_type" if instance and instance.efa == 0 else "efa",
                          f"{what}, so it cannot run multi-node Neuron jobs ({placement.nodes} nodes asked)")
    return efa


def _no_accelerator() -> Shape:
    """The shape of a pod with no accelerator (a Ray head): the pool's own selector and tolerations."""
    return Shape(None, None, 0, 1, {}, [], 0)


# --- objects --------------------------------------------------------------------------------

def _labels(spec: JobSpec, job_id: str) -> dict[str, str]:
    return {MANAGED_BY: "accelctl", JOB_ID_LABEL: job_id, JOB_NAME_LABEL: spec.name}


def _metadata(spec: JobSpec, pool: KubernetesPool, job_id: str, name: str, *, queue: bool = False) -> Manifest:
    labels = _labels(spec, job_id)
    if queue and pool.queue:
        labels[KUEUE_QUEUE_LABEL] = pool.queue
    return {"name": name, "namespace": pool.namespace, "labels": labels}


def _headless_service(spec: JobSpec, pool: KubernetesPool, job_id: str, name: str) -> Manifest:
    """conv. 2.1/3.1: clusterIP None, selecting the job's pods; not-ready pods are published so
    hosts resolve each other while they start (JobSet's default, conv. 2.2)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _metadata(spec, pool, job_id, name),
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": {JOB_ID_LABEL: job_id}}}


def _job_spec(spec: JobSpec, pod: Manifest, labels: dict[str, str], pods: int) -> Manifest:
    out: Manifest = {"backoffLimit": spec.retries}
    if pods > 1:  # conv. 2.1: Indexed, completions = parallelism = hosts
        out.update(completionMode="Indexed", completions=pods, parallelism=pods)
    if spec.timeout_s is not None:
        out["activeDeadlineSeconds"] = spec.timeout_s
    out["ttlSecondsAfterFinished"] = TTL_AFTER_FINISHED_S
    out["template"] = {"metadata": {"labels": dict(labels)}, "spec": pod}
    return out


def _jobset(spec: JobSpec, pool: KubernetesPool, shape: Shape, job_id: str, slices: int) -> Manifest:
    """conv. 2.2: one replicated job of `slices` replicas, each an Indexed Job of the slice's hosts.
    Pod hostnames are <jobset>-slice-<slice>-<host>; JobSet makes the headless Service."""
    reserve = len(SLICE_JOB) + len(str(slices - 1)) + len(str(shape.pods - 1)) + 3
    name = object_name(spec.name, job_id, reserve=reserve)
    labels = _labels(spec, job_id)
    pod = _pod_spec(spec, pool, shape, name, rendezvous=f"{name}-{SLICE_JOB}-0-0.{name}", jobset_slices=slices)
    template = {"metadata": {"labels": dict(labels)},
                "spec": {**_job_spec(spec, pod, labels, shape.pods), "backoffLimit": 0}}
    template["spec"].update(completionMode="Indexed", completions=shape.pods, parallelism=shape.pods)
    template["spec"].pop("ttlSecondsAfterFinished")  # the JobSet's own TTL applies
    metadata = _metadata(spec, pool, job_id, name, queue=True)
    if shape.family == "tpu":  # conv. 2.2: one child Job per node pool, i.e. per slice
        metadata["annotations"] = {"alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}
    body: Manifest = {
        "failurePolicy": {"maxRestarts": spec.retries},
        "network": {"enableDNSHostnames": True, "subdomain": name, "publishNotReadyAddresses": True},
        "replicatedJobs": [{"name": SLICE_JOB, "replicas": slices, "template": template}],
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
    }
    return {"apiVersion": JOBSET_API, "kind": "JobSet", "metadata": metadata, "spec": body}


def _pod_spec(spec: JobSpec, pool: KubernetesPool, shape: Shape, name: str, *, rendezvous: str | None,
              container: str = CONTAINER, jobset_slices: int = 0, subdomain: str | None = None) -> Manifest:
    """The pod template's spec: one container with the command, env, resources and volumes."""
    main: Manifest = {"name": container, "image": spec.image, "command": _command(spec)}
    env = _env(spec, shape, rendezvous, jobset_slices, env_secret_name(name))
    if env:
        main["env"] = env
    main["resources"] = _resources(spec, shape)
    pod: Manifest = {"restartPolicy": "Never"}  # conv. 2.1; JobSet defaults to OnFailure (2.2)
    if subdomain:
        pod["subdomain"] = subdomain  # conv. 3.1: pods resolve as <job>-<i>.<svc>
    if shape.family not in (None, "tpu"):
        # /dev/shm as memory for PyTorch's dataloader workers and NCCL (conv. 3.1).
        main["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
        pod["volumes"] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    if shape.family == "tpu" and shape.pods > 1:
        main["ports"] = [{"containerPort": TPU_RUNTIME_PORT, "name": "tpu-runtime"}]
    if shape.family == "gaudi":
        # conv. 1.4: Habana's Job example runs with hostIPC and CAP_SYS_NICE.
        pod["hostIPC"] = True
        main["securityContext"] = {"capabilities": {"add": ["SYS_NICE"]}}
    if jobset_slices and shape.family == "tpu":
        # conv. 2.2: GKE multislice samples use the host network.
        pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    pod["containers"] = [main]
    if shape.node_selector:
        pod["nodeSelector"] = dict(shape.node_selector)
    if shape.tolerations:
        pod["tolerations"] = [dict(t) for t in shape.tolerations]
    if pool.service_account:
        pod["serviceAccountName"] = pool.service_account
    if pool.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in pool.image_pull_secrets]
    if pool.priority_class:
        pod["priorityClassName"] = pool.priority_class
    return pod


def _command(spec: JobSpec) -> list[str]:
    """A list command runs as is; a string runs under /bin/sh -c (as it would in a shell)."""
    if isinstance(spec.command, str):
        return ["/bin/sh", "-c", spec.command]
    return list(spec.command)


def _env(spec: JobSpec, shape: Shape, rendezvous: str | None, jobset_slices: int,
         secret_name: str) -> list[Manifest]:
    """The spec's env (plain values, and `secretKeyRef`s for references: a secret value is
    never written into a manifest), then what accelctl sets for the family and the gang."""
    env = [_env_var(k, v, secret_name) for k, v in spec.env.items()]
    given = set(spec.env)

    def add(name: str, value: str | None = None, field_path: str | None = None) -> None:
        if name in given:
            return  # the spec's own value wins
        given.add(name)
        if field_path:
            env.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}})
        else:
            env.append({"name": name, "value": value})

    if shape.family == "tpu":
        # GKE injects TPU_WORKER_ID / TPU_WORKER_HOSTNAMES itself for Indexed Jobs with a
        # subdomain (conv. 2.1); multislice needs the MEGASCALE_* values (conv. 2.2).
        if jobset_slices > 1 and rendezvous:
            add("MEGASCALE_COORDINATOR_ADDRESS", rendezvous)
            add("MEGASCALE_NUM_SLICES", field_path="metadata.labels['jobset.sigs.k8s.io/replicatedjob-replicas']")
            add("MEGASCALE_SLICE_ID", field_path="metadata.labels['jobset.sigs.k8s.io/job-index']")
    elif rendezvous and shape.pods > 1:
        # torchrun rendezvous (conv. 3.1): host 0 through the headless Service; rank = index.
        # PET_* are torchrun's own spellings of --nnodes, --node-rank, --master-addr/port
        # (torch/distributed/argparse_util.py: an option defaults to env PET_<DEST>).
        rank = f"metadata.annotations['{COMPLETION_INDEX}']"
        for prefix in ("", "PET_"):
            add(f"{prefix}MASTER_ADDR", rendezvous)
            add(f"{prefix}MASTER_PORT", str(MASTER_PORT))
            add(f"{prefix}NNODES", str(shape.pods))
            add(f"{prefix}NODE_RANK", field_path=rank)
    if shape.efa:
        for name, value in EFA_ENV.items():
            add(name, value)
    return env


def _env_var(name: str, value: str | EnvRef, secret_name: str) -> Manifest:
    """One env entry of the spec: a plain value, a key of the user's Secret (`secret:`), or a
    key of the job's own Secret `secret_name` (`from_env:`, made by `env_secret` at submit)."""
    if isinstance(value, str):
        return {"name": name, "value": value}
    if value.secret is not None:
        ref = {"name": value.secret, "key": value.key or name}
    else:
        ref = {"name": secret_name, "key": name}
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def env_secret_name(object_name: str) -> str:
    """The name of the Secret that holds a job's `from_env` values."""
    return f"{object_name}-env"


def env_secret(spec: JobSpec, job_id: str, object_name: str, values: Mapping[str, str]) -> Manifest:
    """The Secret with a job's `from_env` values (base64, as the API keeps `data`). Only
    submit makes it, in memory, and sends it straight to the API server: `render` and
    --dry-run never include it."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": env_secret_name(object_name), "labels": _labels(spec, job_id)},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


def _resources(spec: JobSpec, shape: Shape) -> Manifest:
    """cpu and memory as requests = limits; devices in both, equal (conv. 1.1: requests, if
    given, must equal the limit)."""
    amounts: dict[str, Any] = {}
    if spec.resources.cpu is not None:
        amounts["cpu"] = _cpu(spec.resources.cpu)
    if spec.resources.memory is not None:
        amounts["memory"] = spec.resources.memory
    if shape.resource and shape.per_pod:
        amounts[shape.resource] = shape.per_pod
    if shape.efa:
        amounts[chips.EFA_RESOURCE] = shape.efa
    if not amounts:
        return {}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _cpu(cpu: float) -> str:
    """A CPU quantity: whole cores as "32", fractions in millicores ("500m")."""
    return str(int(cpu)) if float(cpu).is_integer() else f"{round(cpu * 1000)}m"
