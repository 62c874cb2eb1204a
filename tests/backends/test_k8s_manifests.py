"""Kubernetes manifests: golden files per accelerator family, field checks against the
conventions (../shared/reference/k8s-ray-conventions.md, cited by section), schema checks
(kubernetes-validate --strict for core kinds; the JobSet and RayJob CRD schemas), and the
refusals of impossible requests.

Regenerate the golden files after an intended change with ACCELCTL_REGEN_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from accelctl.backends import k8s_manifests as k8s
from accelctl.core import chips
from accelctl.core.jobspec import JobSpec
from accelctl.core.models import EnvRef, Resources
from accelctl.core.placement import Placement
from accelctl.core.pools import KubernetesPool, Toleration
from accelctl.core.problems import ProblemsFound
from tests.backends import k8s_schemas

GOLDEN = Path(__file__).parent.parent / "data" / "k8s"
JOB_ID = "0a1b2c3d"


def pool(**fields: Any) -> KubernetesPool:
    fields.setdefault("name", "p")
    return KubernetesPool(**fields)


def spec(**fields: Any) -> JobSpec:
    fields.setdefault("name", "train")
    fields.setdefault("command", "python3 train.py")
    fields.setdefault("image", "example.com/train:1")
    return JobSpec(**fields)


def tpu(acc: str, machine: str, topology: str, per_host: int, hosts: int, **extra: Any):
    p = pool(accelerator=acc, machine_type=machine, topology=topology, count=per_host, nodes=hosts,
             namespace="tpu", **extra)
    s = spec(accelerator=acc, topology=topology, kind="training",
             command="python3 -c 'import jax; print(jax.device_count())'")
    return s, Placement(p, acc, per_host, hosts)


def aws_neuron():
    p = pool(accelerator="aws-trainium", instance_type="trn1.32xlarge", count=16, nodes=2)
    s = spec(accelerator="aws-trainium", count=16, nodes=2, command="torchrun --nproc-per-node=32 train.py",
             resources=Resources(cpu=120, memory="480Gi"), timeout="6h", retries=2)
    return s, Placement(p, "aws-trainium", 16, 2)


def gpus(acc: str, count: int, nodes: int, **extra: Any):
    p = pool(accelerator=acc, count=count, nodes=nodes, **extra)
    s = spec(accelerator=acc, count=count, nodes=nodes, env={"NCCL_DEBUG": "WARN"},
             resources=Resources(cpu=32, memory="256Gi"))
    return s, Placement(p, acc, count, nodes)


CASES = {
    "tpu-v5e-2x4-single-host": lambda: tpu("google-tpu-v5e", "ct5lp-hightpu-8t", "2x4", 8, 1),
    "tpu-v5e-4x4-multi-host": lambda: tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4),
    "tpu-v6e-4x4": lambda: tpu("google-tpu-v6e-trillium", "ct6e-standard-4t", "4x4", 4, 4),
    "tpu-v5p-2x2x2": lambda: tpu("google-tpu-v5p", "ct5p-hightpu-4t", "2x2x2", 4, 2),
    "tpu-ironwood-2x2x4": lambda: tpu("google-tpu-v7-ironwood", "tpu7x-standard-4t", "2x2x4", 4, 4),
    "trn1-32xlarge-2-nodes": aws_neuron,
    "h100-8x2-nodes": lambda: gpus("nvidia-h100-sxm", 8, 2, queue="team-a",
                                   node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
    "mi300x-8": lambda: gpus("amd-mi300x", 8, 1),
    "gaudi3-8": lambda: gpus("intel-gaudi3", 8, 1, service_account="trainer",
                             image_pull_secrets=("registry",), priority_class="high"),
}


def golden(name: str, objects: list[dict[str, Any]]) -> None:
    path = GOLDEN / f"{name}.yaml"
    text = k8s.to_yaml(objects)
    if os.environ.get("ACCELCTL_REGEN_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with ACCELCTL_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file"


def assert_valid(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert k8s_schemas.errors(obj) == [], obj["kind"]


@pytest.mark.parametrize("name", list(CASES))
def test_golden(name: str) -> None:
    s, placement = CASES[name]()
    objects = k8s.render(s, placement, JOB_ID)
    golden(name, objects)
    assert_valid(objects)


def test_golden_jobset_and_rayjob() -> None:
    s, placement = tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4)
    big = Placement(pool(**{**placement.pool.__dict__, "nodes": 8}), placement.accelerator, 4, 4)
    jobset = k8s.render(s, big, JOB_ID, jobset=True, slices=2)
    golden("tpu-v5e-4x4-jobset-2-slices", jobset)
    rayjob = k8s.render_rayjob(*tpu("google-tpu-v6e-trillium", "ct6e-standard-4t", "4x4", 4, 4), JOB_ID)
    golden("tpu-v6e-4x4-rayjob", rayjob)
    gpu_rayjob = k8s.render_rayjob(*gpus("nvidia-h100-sxm", 8, 2), JOB_ID)
    golden("h100-8x2-rayjob", gpu_rayjob)
    for objects in (jobset, rayjob, gpu_rayjob):
        assert_valid(objects)


# --- field by field, against the conventions ---------------------------------------------------

def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def resources(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(pod_of(obj)["containers"][0]["resources"])


def env(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod_of(obj)["containers"][0].get("env", [])}


def test_tpu_single_host_is_one_job_with_all_chips_and_the_gke_selectors() -> None:
    """conv. 1.5: google.com/tpu per pod = chips of the VM; gke-tpu-accelerator/-topology
    selectors; toleration google.com/tpu Exists NoSchedule. One host: no Service."""
    [job] = k8s.render(*CASES["tpu-v5e-2x4-single-host"](), JOB_ID)
    assert job["kind"] == "Job" and "completionMode" not in job["spec"]
    assert resources(job) == {"requests": {"google.com/tpu": 8}, "limits": {"google.com/tpu": 8}}
    assert pod_of(job)["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                           "cloud.google.com/gke-tpu-topology": "2x4"}
    assert pod_of(job)["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize("name, label, topology, hosts", [
    ("tpu-v5e-4x4-multi-host", "tpu-v5-lite-podslice", "4x4", 4),
    ("tpu-v6e-4x4", "tpu-v6e-slice", "4x4", 4),
    ("tpu-v5p-2x2x2", "tpu-v5p-slice", "2x2x2", 2),
    ("tpu-ironwood-2x2x4", "tpu7x", "2x2x4", 4),
])
def test_tpu_multi_host_is_an_indexed_job_gke_injects_worker_env_into(name: str, label: str, topology: str,
                                                                     hosts: int) -> None:
    """conv. 2.1: headless Service (clusterIP None) first; Indexed, completions = parallelism =
    VMs; subdomain = the Service; restartPolicy Never; a google.com/tpu request of 4 per VM:
    the four conditions under which GKE injects TPU_WORKER_ID / TPU_WORKER_HOSTNAMES."""
    service, job = k8s.render(*CASES[name](), JOB_ID)
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels | service["spec"]["selector"] == pod_labels  # the Service selects the job's pods
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", hosts, hosts)
    pod = pod_of(job)
    assert pod["subdomain"] == service["metadata"]["name"] and pod["restartPolicy"] == "Never"
    assert resources(job)["limits"] == {"google.com/tpu": 4} == resources(job)["requests"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": label,
                                   "cloud.google.com/gke-tpu-topology": topology}
    assert "TPU_WORKER_ID" not in env(job)  # GKE's to set, not ours


def test_trainium_two_nodes_requests_devices_and_efa() -> None:
    """conv. 1.6/3.2: aws.amazon.com/neuron = 16 devices (not cores), vpc.amazonaws.com/efa = 8 on
    trn1.32xlarge, instance-type selector, Neuron toleration, EFA env; torchrun rendezvous."""
    service, job = k8s.render(*CASES["trn1-32xlarge-2-nodes"](), JOB_ID)
    limits = resources(job)["limits"]
    assert limits["aws.amazon.com/neuron"] == 16 and limits["vpc.amazonaws.com/efa"] == 8
    assert "aws.amazon.com/neuroncore" not in limits and "aws.amazon.com/neurondevice" not in limits
    assert pod_of(job)["nodeSelector"] == {"node.kubernetes.io/instance-type": "trn1.32xlarge"}
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in pod_of(job)["tolerations"]
    values = env(job)
    assert values["FI_PROVIDER"] == "efa" and values["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert values["MASTER_ADDR"] == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert job["spec"]["backoffLimit"] == 2 and job["spec"]["activeDeadlineSeconds"] == 6 * 3600


def test_gpu_multi_node_torchrun_env_shm_and_kueue() -> None:
    """conv. 3.1: MASTER_ADDR = host 0 through the headless Service, NODE_RANK from the completion
    index annotation, /dev/shm as a memory emptyDir; conv. 1.1: devices in limits = requests."""
    service, job = k8s.render(*CASES["h100-8x2-nodes"](), JOB_ID)
    name = job["metadata"]["name"]
    values = env(job)
    assert values["MASTER_ADDR"] == f"{name}-0.{name}" and values["NNODES"] == "2"
    assert values["NODE_RANK"] == {"fieldRef": {"fieldPath":
                                                "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    assert values["NCCL_DEBUG"] == "WARN"
    pod = pod_of(job)
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert resources(job)["requests"] == resources(job)["limits"] == {
        "cpu": "32", "memory": "256Gi", "nvidia.com/gpu": 8}
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert "kueue.x-k8s.io/queue-name" not in service["metadata"]["labels"]


@pytest.mark.parametrize("name, resource", [("mi300x-8", "amd.com/gpu"), ("gaudi3-8", "habana.ai/gaudi")])
def test_amd_and_gaudi_resources(name: str, resource: str) -> None:
    [job] = k8s.render(*CASES[name](), JOB_ID)
    assert resources(job)["limits"][resource] == 8
    if resource == "habana.ai/gaudi":  # conv. 1.4: Habana's example Job
        assert pod_of(job)["hostIPC"] is True
        assert pod_of(job)["containers"][0]["securityContext"] == {"capabilities": {"add": ["SYS_NICE"]}}
        assert pod_of(job)["serviceAccountName"] == "trainer"
        assert pod_of(job)["imagePullSecrets"] == [{"name": "registry"}]
        assert pod_of(job)["priorityClassName"] == "high"


@pytest.mark.parametrize("name", list(CASES))
def test_every_object_and_pod_is_labelled_and_named_rfc1123(name: str) -> None:
    for obj in k8s.render(*CASES[name](), JOB_ID):
        for labels in (obj["metadata"]["labels"], obj.get("spec", {}).get("template", {}).get("metadata", {})
                       .get("labels", obj["metadata"]["labels"])):
            assert labels["app.kubernetes.io/managed-by"] == "accelctl"
            assert labels["accelctl.dev/job-id"] == JOB_ID
        assert len(obj["metadata"]["name"]) <= 63


def test_long_names_are_shortened_so_pod_hostnames_fit() -> None:
    s, placement = CASES["tpu-v5e-4x4-multi-host"]()
    long = JobSpec(**{**s.__dict__, "name": "x" * 63})
    service, job = k8s.render(long, placement, JOB_ID)
    assert len(job["metadata"]["name"]) + len("-3") <= 63 and job["metadata"]["name"].endswith(JOB_ID)
    digits = JobSpec(**{**s.__dict__, "name": "7b-finetune"})
    assert k8s.render(digits, placement, JOB_ID)[0]["metadata"]["name"][0].isalpha()  # a Service name


def test_jobset_multislice() -> None:
    """conv. 2.2: replicatedJobs[].replicas = slices; Indexed child Jobs of the slice's hosts;
    restartPolicy Never set explicitly; exclusive-topology per node pool; MEGASCALE env."""
    s, placement = tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4)
    big = Placement(pool(**{**placement.pool.__dict__, "nodes": 8}), placement.accelerator, 4, 4)
    [jobset] = k8s.render(s, big, JOB_ID, jobset=True, slices=2)
    assert jobset["apiVersion"] == "jobset.x-k8s.io/v1alpha2"
    rjob = jobset["spec"]["replicatedJobs"][0]
    assert rjob["replicas"] == 2
    assert (rjob["template"]["spec"]["completions"], rjob["template"]["spec"]["parallelism"]) == (4, 4)
    assert pod_of(rjob["template"])["restartPolicy"] == "Never"
    assert jobset["metadata"]["annotations"] == {
        "alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}
    values = env(rjob["template"])
    index = "metadata.labels['jobset.sigs.k8s.io/job-index']"
    assert values["MEGASCALE_SLICE_ID"] == {"fieldRef": {"fieldPath": index}}
    with pytest.raises(k8s.PoolProblem, match="16"):  # 2 slices x 4 hosts > 4 nodes
        k8s.render(s, placement, JOB_ID, jobset=True, slices=4)


def test_rayjob_tpu_worker_group() -> None:
    """conv. 6: workerGroupSpecs[].numOfHosts = hosts (4 for v6e 4x4), google.com/tpu 4 each."""
    [rayjob] = k8s.render_rayjob(*tpu("google-tpu-v6e-trillium", "ct6e-standard-4t", "4x4", 4, 4), JOB_ID)
    group = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert rayjob["apiVersion"] == "ray.io/v1" and group["numOfHosts"] == 4 and group["replicas"] == 1
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"] == {"google.com/tpu": 4}
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "nodeSelector" not in head and "resources" not in head["containers"][0]
    assert "command" not in head["containers"][0] and rayjob["spec"]["entrypoint"].startswith("python3")


def test_pool_tolerations_are_added_once() -> None:
    extra = Toleration(key="dedicated", operator="Equal", value="ml", effect="NoSchedule")
    same = Toleration(key="nvidia.com/gpu", effect="NoSchedule")
    s, placement = gpus("nvidia-h100-sxm", 8, 1, tolerations=(extra, same))
    [job] = k8s.render(s, placement, JOB_ID)
    assert pod_of(job)["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]


# --- refusals ---------------------------------------------------------------------------------

def test_refuses_a_job_with_no_image() -> None:
    s, placement = CASES["mi300x-8"]()
    with pytest.raises(ProblemsFound, match="needs an `image`"):
        k8s.render(JobSpec(**{**s.__dict__, "image": None}), placement, JOB_ID)


def test_refuses_chips_per_host_that_do_not_match_the_machine_type() -> None:
    s, placement = tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4)
    eight = Placement(pool(accelerator="google-tpu-v5e", machine_type="ct5lp-hightpu-8t", count=8, nodes=4),
                      "google-tpu-v5e", 4, 4)
    with pytest.raises(k8s.PoolProblem, match="single-host slices only") as e:
        k8s.render(s, eight, JOB_ID)
    assert e.value.field == "machine_type"
    with pytest.raises(ProblemsFound, match="4 chip"):  # the spec asks 8 per host on -4t VMs
        k8s.render(s, Placement(placement.pool, "google-tpu-v5e", 8, 2), JOB_ID)


def test_refuses_a_topology_the_generation_or_pool_does_not_have() -> None:
    s, placement = tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4)
    with pytest.raises(ProblemsFound, match="has 4x4 slices, not 8x8"):
        k8s.render(JobSpec(**{**s.__dict__, "topology": "8x8"}), placement, JOB_ID)
    with pytest.raises(ValueError, match="no 2x2x2 slice"):
        chips.tpu_hosts("google-tpu-v5e", "2x2x2")


def test_refuses_multi_node_trainium_without_efa() -> None:
    small = pool(accelerator="aws-trainium", instance_type="trn1.2xlarge", count=1, nodes=2)
    s = spec(accelerator="aws-trainium", count=1, nodes=2)
    with pytest.raises(k8s.PoolProblem, match="trn1.2xlarge has no EFA") as e:
        k8s.render(s, Placement(small, "aws-trainium", 1, 2), JOB_ID)
    assert e.value.field == "instance_type"
    trn2 = pool(accelerator="aws-trainium2", instance_type="trn2.48xlarge", count=16, nodes=2)
    with pytest.raises(k8s.PoolProblem, match="set efa"):
        k8s.render(spec(accelerator="aws-trainium2", count=16, nodes=2), Placement(trn2, "aws-trainium2", 16, 2),
                   JOB_ID)
    single = k8s.render(spec(accelerator="aws-trainium", count=1), Placement(small, "aws-trainium", 1, 1), JOB_ID)
    assert "vpc.amazonaws.com/efa" not in resources(single[0])["limits"]  # one node needs no EFA


def test_refuses_a_neuron_instance_of_another_family() -> None:
    p = pool(accelerator="aws-trainium2", instance_type="trn1.32xlarge", count=16)
    with pytest.raises(k8s.PoolProblem, match="has aws-trainium, not aws-trainium2"):
        k8s.render(spec(accelerator="aws-trainium2", count=16), Placement(p, "aws-trainium2", 16, 1), JOB_ID)


def test_refuses_a_node_selector_that_contradicts_the_slice() -> None:
    s, placement = tpu("google-tpu-v5e", "ct5lp-hightpu-4t", "4x4", 4, 4,
                       node_selector={"cloud.google.com/gke-tpu-topology": "2x4"})
    with pytest.raises(k8s.PoolProblem, match="contradicts"):
        k8s.render(s, placement, JOB_ID)


# --- catalog and chips agree ------------------------------------------------------------------

def test_chips_resources_agree_with_the_catalog() -> None:
    from accelctl.core.inventory import load_inventory

    inventory = load_inventory(None)
    for acc in inventory.accelerators:
        known = chips.kubernetes_resource(acc.id)
        if acc.kubernetes is not None and chips.family(acc.kubernetes.resource):
            assert known == acc.kubernetes.resource, acc.id
        if acc.id in chips.TPU and acc.kubernetes:
            assert acc.kubernetes.labels["cloud.google.com/gke-tpu-accelerator"] == chips.TPU[acc.id].gke_accelerator
    for machine in chips.TPU_MACHINES.values():
        assert machine.accelerator in chips.TPU
    for instance in chips.AWS_INSTANCES.values():
        assert inventory.find(instance.accelerator) is not None


def test_crd_schemas_name_their_source() -> None:
    for crd in k8s_schemas.CRD_FILES.values():
        assert k8s_schemas.source(crd).startswith("https://github.com/")


def test_yaml_and_list_output_round_trip() -> None:
    objects = k8s.render(*CASES["h100-8x2-nodes"](), JOB_ID)
    assert list(yaml.safe_load_all(k8s.to_yaml(objects))) == objects
    assert k8s.as_list(objects) == {"apiVersion": "v1", "kind": "List", "items": objects}


def test_refuses_more_chips_per_node_than_the_pool_has() -> None:
    s, placement = CASES["mi300x-8"]()
    with pytest.raises(k8s.PoolProblem, match="has 8 chip"):
        k8s.render(s, Placement(placement.pool, placement.accelerator, 16, 1), JOB_ID)


def test_env_references_become_secret_key_refs_and_values_stay_out() -> None:
    """`{secret: NAME}` -> the user's Secret (key defaults to the variable's name);
    `{from_env: VAR}` -> the job's own Secret, which only submit makes (base64 data)."""
    s = spec(env={"PLAIN": "p", "DB": EnvRef(secret="db-creds"), "PW": EnvRef(secret="db-creds", key="pw"),
                  "TOKEN": EnvRef(from_env="MY_TOKEN")})
    objects = k8s.render(s, Placement(pool(accelerator="cpu"), "cpu", 1, 1), JOB_ID)
    job = objects[-1]
    secret_name = k8s.env_secret_name(job["metadata"]["name"])
    assert env(job) == {"PLAIN": "p",
                        "DB": {"secretKeyRef": {"name": "db-creds", "key": "DB"}},
                        "PW": {"secretKeyRef": {"name": "db-creds", "key": "pw"}},
                        "TOKEN": {"secretKeyRef": {"name": secret_name, "key": "TOKEN"}}}
    assert_valid(objects)
    made = k8s.env_secret(s, JOB_ID, job["metadata"]["name"], {"TOKEN": "hunter2"})
    assert made["metadata"]["name"] == secret_name and made["data"] == {"TOKEN": "aHVudGVyMg=="}
    assert "hunter2" not in yaml.safe_dump(objects)
