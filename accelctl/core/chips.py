"""Per-family facts every backend needs: TPU slice shapes and hosts, Neuron cores, chips per host.

Sources: Cloud TPU docs (https://cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e and
https://docs.cloud.google.com/kubernetes-engine/docs/concepts/tpu-ironwood) for topologies
and chips per VM; the AWS Neuron docs
(https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/trainium.html)
for NeuronCores per device and devices per instance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_TOPOLOGY = re.compile(r"^\d+(x\d+){1,2}$")
# The topologies a multi-host slice of a 3-D generation takes below the 4x4x4 cube.
_SMALL_3D = ("2x2x1", "2x2x2", "2x2x4", "2x4x4")


@dataclass(frozen=True)
class TpuGeneration:
    """One TPU generation: how its slices are shaped and split into hosts (VMs)."""

    ray_prefix: str  # Ray's pod-type prefix: TPU-<prefix>-<cores>-head
    cores_per_chip: int  # TensorCores per chip (Ray counts pod types in cores)
    gke_accelerator: str  # value of the cloud.google.com/gke-tpu-accelerator node label
    max_chips: int  # the largest slice
    single_host: tuple[str, ...]  # topologies that fit one VM, which then has all their chips
    listed: tuple[str, ...] = ()  # every valid topology, where the docs list them all

    def valid(self, topology: str) -> bool:
        """Whether a slice of this generation can have this topology.

        2-D generations and Ironwood take the documented list; v4 and v5p take the small
        shapes plus AxBxC with A <= B <= C, all multiples of 4, up to the largest slice.
        """
        if self.listed:
            return topology in self.listed
        if topology in _SMALL_3D:
            return True
        if not valid_topology_text(topology):
            return False
        dims = [int(d) for d in topology.split("x")]
        return (len(dims) == 3 and dims == sorted(dims) and all(d % 4 == 0 for d in dims)
                and chips_in(topology) <= self.max_chips)

    def examples(self) -> str:
        """A few valid topologies, for error messages."""
        shown = self.listed or _SMALL_3D + ("4x4x4", "4x4x8", "...")
        return ", ".join(shown)

    def hosts(self, topology: str) -> tuple[int, int]:
        """(chips per host, hosts) of a slice with this topology."""
        chips = chips_in(topology)
        if topology in self.single_host:
            return chips, 1
        return 4, chips // 4


_2D = ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16")
_IRONWOOD = _SMALL_3D + ("4x4x4", "4x4x8", "4x8x8", "8x8x8", "8x8x16", "8x16x16")
TPU: dict[str, TpuGeneration] = {
    "google-tpu-v4": TpuGeneration("v4", 2, "tpu-v4-podslice", 4096, ("2x2x1",)),
    "google-tpu-v5e": TpuGeneration("v5litepod", 1, "tpu-v5-lite-podslice", 256, ("1x1", "2x2", "2x4"), _2D),
    "google-tpu-v5p": TpuGeneration("v5p", 2, "tpu-v5p-slice", 8960, ("2x2x1",)),
    "google-tpu-v6e-trillium": TpuGeneration("v6e", 1, "tpu-v6e-slice", 256, ("1x1", "2x2", "2x4"), _2D),
    "google-tpu-v7-ironwood": TpuGeneration("v7x", 2, "tpu7x", 9216, ("2x2x1",), _IRONWOOD),
}


@dataclass(frozen=True)
class NeuronDevice:
    """An AWS Neuron device (Trainium, Inferentia): cores per device, devices per largest instance."""

    cores_per_chip: int  # physical NeuronCores per device
    max_chips_per_host: int
    largest_instance: str


NEURON: dict[str, NeuronDevice] = {
    "aws-trainium": NeuronDevice(2, 16, "trn1.32xlarge"),
    "aws-trainium2": NeuronDevice(8, 16, "trn2.48xlarge"),
    "aws-inferentia2": NeuronDevice(2, 12, "inf2.48xlarge"),
}


def chips_in(topology: str) -> int:
    """Chips in a slice: the product of its dimensions (2x4 -> 8)."""
    return math.prod(int(d) for d in topology.split("x"))


def valid_topology_text(topology: str) -> bool:
    """AxB or AxBxC with positive numbers (the shape, not yet the generation's rules)."""
    return bool(_TOPOLOGY.match(topology)) and chips_in(topology) > 0


def max_chips_per_host(accelerator: str) -> tuple[int, str] | None:
    """The most chips one host of this accelerator has, and the host named; None if not known."""
    if accelerator in TPU:
        gen = TPU[accelerator]
        return max(gen.hosts(t)[0] for t in gen.single_host), f"a {gen.ray_prefix} TPU VM"
    if accelerator in NEURON:
        device = NEURON[accelerator]
        return device.max_chips_per_host, device.largest_instance
    return None


# --- Kubernetes: machine and instance types, resources, taints ------------------------------
# Source for every value below: ../shared/reference/k8s-ray-conventions.md (cited by section),
# which names the upstream page of each fact.


@dataclass(frozen=True)
class TpuMachine:
    """A GKE TPU machine type: the generation (catalog id) and the chips of one VM."""

    name: str
    accelerator: str
    chips: int

    @property
    def single_host_only(self) -> bool:
        """-1t and -8t VMs only ever form single-host slices; multi-host slices use -4t VMs
        (conventions 1.5 table: multi-host "VMs = chips/4")."""
        return self.chips != 4


# Conventions 1.5 table (GKE machine type column); xpk's tpu7x-standard-1t is left out: the
# GKE Ironwood page documents -4t only.
TPU_MACHINES: dict[str, TpuMachine] = {m.name: m for m in (
    TpuMachine("ct4p-hightpu-4t", "google-tpu-v4", 4),
    TpuMachine("ct5lp-hightpu-1t", "google-tpu-v5e", 1),
    TpuMachine("ct5lp-hightpu-4t", "google-tpu-v5e", 4),
    TpuMachine("ct5lp-hightpu-8t", "google-tpu-v5e", 8),
    TpuMachine("ct5p-hightpu-4t", "google-tpu-v5p", 4),
    TpuMachine("ct6e-standard-1t", "google-tpu-v6e-trillium", 1),
    TpuMachine("ct6e-standard-4t", "google-tpu-v6e-trillium", 4),
    TpuMachine("ct6e-standard-8t", "google-tpu-v6e-trillium", 8),
    TpuMachine("tpu7x-standard-4t", "google-tpu-v7-ironwood", 4),
)}


def tpu_hosts(accelerator: str, topology: str, machine_type: str | None = None) -> tuple[int, int]:
    """(chips per host, hosts) of a slice, the machine type deciding the `2x4` ambiguity
    (conventions 1.5: one -8t VM or two -4t VMs). Raises ValueError saying why a
    topology or machine type cannot make this slice."""
    gen = TPU[accelerator]
    if not gen.valid(topology):
        raise ValueError(f"{accelerator} has no {topology} slice; valid: {gen.examples()}")
    if machine_type is None:
        return gen.hosts(topology)
    machine = TPU_MACHINES.get(machine_type)
    if machine is None or machine.accelerator != accelerator:
        known = ", ".join(m.name for m in TPU_MACHINES.values() if m.accelerator == accelerator)
        raise ValueError(f"{machine_type} is not a {accelerator} machine type; use one of: {known}")
    chips = chips_in(topology)
    if machine.single_host_only:
        if chips != machine.chips:
            raise ValueError(f"a {machine_type} VM has {machine.chips} chip(s) and makes single-host slices "
                             f"only; a {topology} slice has {chips} (use a -4t machine type for multi-host)")
        return chips, 1
    if chips < machine.chips or chips % machine.chips:
        raise ValueError(f"a {topology} slice ({chips} chips) cannot be made of {machine_type} VMs "
                         f"({machine.chips} chips each)")
    return machine.chips, chips // machine.chips


@dataclass(frozen=True)
class AwsInstance:
    """An EC2 Neuron instance: device family, Neuron devices, EFA devices (None: not verified)."""

    name: str
    accelerator: str
    devices: int
    efa: int | None


# Conventions 1.6 table. trn2.48xlarge's EFA device count is not verified there (only "up to
# 3.2 Tbps EFAv3"), and inf2 rows have none listed: None, so a multi-node pool states `efa:`.
AWS_INSTANCES: dict[str, AwsInstance] = {i.name: i for i in (
    AwsInstance("trn1.2xlarge", "aws-trainium", 1, 0),
    AwsInstance("trn1.32xlarge", "aws-trainium", 16, 8),
    AwsInstance("trn1n.32xlarge", "aws-trainium", 16, 16),
    AwsInstance("trn2.48xlarge", "aws-trainium2", 16, None),
    AwsInstance("inf2.xlarge", "aws-inferentia2", 1, None),
    AwsInstance("inf2.8xlarge", "aws-inferentia2", 1, None),
    AwsInstance("inf2.24xlarge", "aws-inferentia2", 6, None),
    AwsInstance("inf2.48xlarge", "aws-inferentia2", 12, None),
)}


@dataclass(frozen=True)
class DeviceFamily:
    """How Kubernetes offers one family of accelerators: the device plugin's resource, and the
    taint its nodes may carry (tolerated with `operator: Exists`)."""

    resource: str
    taint: str | None
    source: str  # the conventions section


FAMILIES: dict[str, DeviceFamily] = {
    # 1.2: GKE taints GPU nodes nvidia.com/gpu:NoSchedule; AWS sample NodePools do too.
    "nvidia": DeviceFamily("nvidia.com/gpu", "nvidia.com/gpu", "1.2"),
    # 1.3: ROCm/k8s-device-plugin; no taint documented.
    "amd": DeviceFamily("amd.com/gpu", None, "1.3"),
    # 1.4: the Habana device plugin; no taint documented.
    "gaudi": DeviceFamily("habana.ai/gaudi", None, "1.4"),
    # 1.5: google.com/tpu=present:NoSchedule on TPU slice nodes.
    "tpu": DeviceFamily("google.com/tpu", "google.com/tpu", "1.5"),
    # 1.6: whole devices (not neuroncore); AWS sample NodePools taint aws.amazon.com/neuron.
    "neuron": DeviceFamily("aws.amazon.com/neuron", "aws.amazon.com/neuron", "1.6"),
}
EFA_RESOURCE = "vpc.amazonaws.com/efa"  # conventions 1.6
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"  # conventions 1.1
TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"  # conventions 1.5
TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"  # conventions 1.5


def family(resource: str | None) -> str | None:
    """The family (nvidia, amd, gaudi, tpu, neuron) whose device plugin offers `resource`."""
    for name, fam in FAMILIES.items():
        if fam.resource == resource:
            return name
    return None


def kubernetes_resource(accelerator: str) -> str | None:
    """The device-plugin resource of a catalog id of the five families Kubernetes pools know,
    for callers without the catalog (the catalog's `kubernetes.resource` agrees: tested)."""
    if accelerator in TPU:
        return FAMILIES["tpu"].resource
    if accelerator.startswith(("aws-trainium", "aws-inferentia")):
        return FAMILIES["neuron"].resource
    if accelerator.startswith("intel-gaudi"):
        return FAMILIES["gaudi"].resource
    if re.match(r"^amd-mi\d", accelerator):
        return FAMILIES["amd"].resource
    if accelerator.startswith("nvidia-"):
        return FAMILIES["nvidia"].resource
    return None
