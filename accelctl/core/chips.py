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
