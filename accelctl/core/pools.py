"""Pools: where jobs run. One record type per backend kind (local, ray, kubernetes, ssh),
validated like the rest of the inventory; the backends read them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from accelctl.core import chips
from accelctl.core.models import (
    ENV_NAME,
    STRICT,
    Strings,
    all_checks,
    check,
    check_counts,
    check_range,
    check_text,
    valid_id,
)
from accelctl.core.problems import did_you_mean


@dataclass(frozen=True)
class PoolBase:
    """Fields every pool has, whatever its backend."""

    name: str
    accelerator: str  # catalog id or alias, or "cpu"
    count: int = 1  # chips per node
    nodes: int = 1  # nodes the pool can give one job
    example: bool = False  # shipped as an example: edit before use
    description: str = ""
    price_per_chip_hour: float | None = None  # USD; the fit planner's cost, over the catalog's `prices`

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("accelerator",))
        check_counts(self)

    @property
    def location(self) -> str:
        """Where the pool is, in a few words (address, context, hosts)."""
        return ""


@dataclass(frozen=True)
class LocalPool(PoolBase):
    """The embedded Ray head on 127.0.0.1, started on demand."""

    __pydantic_config__ = STRICT
    backend: Literal["local"] = "local"

    @property
    def location(self) -> str:
        return "127.0.0.1 (started on demand)"


@dataclass(frozen=True)
class RayPool(PoolBase):
    """A remote Ray cluster, reached through its Jobs API (dashboard address)."""

    __pydantic_config__ = STRICT
    backend: Literal["ray"] = "ray"
    address: str | None = None  # http://HOST:8265; None: $RAY_ADDRESS at submit time
    # Ray token authentication: where the token is read from (never the token itself).
    auth_token_file: str | None = None
    auth_token_env: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.address is None or bool(re.match(r"^(https?|ray)://\S+$", self.address)), "address",
               f'"{self.address}" is not a Ray address: use http://HOST:8265')
        check_text(self, ("auth_token_file", "auth_token_env"))
        check(not (self.auth_token_file and self.auth_token_env), "auth_token_env",
              "set auth_token_file or auth_token_env, not both")
        check(self.auth_token_env is None or bool(ENV_NAME.match(self.auth_token_env)),
              "auth_token_env", f'"{self.auth_token_env}" is not an environment variable name')

    @property
    def location(self) -> str:
        return self.address or "$RAY_ADDRESS"


_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                         r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_label(key: str, value: str | None = None) -> bool:
    """A Kubernetes label key (optional DNS prefix, name <= 63) and, if given, value (<= 63)."""
    prefix, _, name = key.rpartition("/")
    return (bool(_LABEL_NAME.match(key)) and len(name) <= 63 and len(prefix) <= 253
            and (value is None or bool(_LABEL_VALUE.match(value))))


def valid_subdomain(value: str) -> bool:
    """An RFC 1123 subdomain (Secret, ServiceAccount, PriorityClass names): at most 253."""
    return len(value) <= 253 and bool(_SUBDOMAIN.match(value))


@dataclass(frozen=True)
class Toleration:
    """A pod toleration, as Kubernetes spells it (`operator: Exists` matches any value)."""

    __pydantic_config__ = STRICT
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None  # only with effect NoExecute

    @all_checks
    def __post_init__(self) -> None:
        check(self.key is None or valid_label(self.key), "key", f'"{self.key}" is not a taint key')
        check(self.operator != "Exists" or self.value is None, "value", "`operator: Exists` takes no value")
        check(self.operator != "Equal" or self.key is not None, "key", "`operator: Equal` needs a key")
        check(self.value is None or valid_label("k", self.value), "value", f'"{self.value}" is not a taint value')
        check(self.toleration_seconds is None or self.effect == "NoExecute", "toleration_seconds",
              "applies to `effect: NoExecute` only")

    def manifest(self) -> dict[str, Any]:
        """The toleration as it goes into a pod spec."""
        out: dict[str, Any] = {"key": self.key, "operator": self.operator, "value": self.value,
                               "effect": self.effect, "tolerationSeconds": self.toleration_seconds}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class KubernetesPool(PoolBase):
    """A Kubernetes cluster (or a node pool of one), by kubeconfig context.

    `count` is chips per node and `nodes` the nodes one job may use. TPU pools name their
    slice by `topology` and `machine_type` (chips per host follow from both); AWS pools
    their `instance_type` and the EFA devices to request per pod (`efa`, default: what the
    instance type has). Facts per machine and instance type: `core.chips`.
    """

    __pydantic_config__ = STRICT
    backend: Literal["kubernetes"] = "kubernetes"
    context: str | None = None  # None: kubeconfig's current context
    namespace: str = "default"
    topology: str | None = None  # TPU slice topology, e.g. 2x4
    machine_type: str | None = None  # GKE TPU machine type, e.g. ct5lp-hightpu-4t
    instance_type: str | None = None  # EC2 instance type, e.g. trn1.32xlarge
    efa: int | None = None  # EFA devices per pod for multi-node jobs; None: the instance's own
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    service_account: str | None = None
    image_pull_secrets: Strings = ()
    queue: str | None = None  # Kueue LocalQueue: the kueue.x-k8s.io/queue-name label
    priority_class: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        super().__post_init__()
        check_text(self, ("context", "namespace", "topology", "machine_type", "instance_type",
                          "service_account", "image_pull_secrets", "queue", "priority_class"))
        check(valid_id(self.namespace), "namespace",
              f'"{self.namespace}" is not a namespace name: lowercase letters, digits and "-", at most 63')
        check_range(self, ("efa",), 0)
        for key, value in self.node_selector.items():
            check(valid_label(key, value), "node_selector", f'"{key}: {value}" is not a valid label selector')
        for name in ("service_account", "priority_class"):
            value = getattr(self, name)
            check(value is None or valid_subdomain(value), name, f'"{value}" is not a valid Kubernetes name')
        for secret in self.image_pull_secrets:
            check(valid_subdomain(secret), "image_pull_secrets", f'"{secret}" is not a valid Secret name')
        check(self.queue is None or (bool(self.queue) and valid_label("k", self.queue)), "queue",
              f'"{self.queue}" is not a valid Kueue queue name (a label value)')
        check(not (self.machine_type and self.instance_type), "instance_type",
              "a pool has a GKE machine_type or an EC2 instance_type, not both")
        self._check_tpu()
        self._check_aws()

    def _check_tpu(self) -> None:
        check(self.topology is None or chips.valid_topology_text(self.topology), "topology",
              f'"{self.topology}" is not a topology: use e.g. 2x4 or 2x2x1')
        if self.machine_type is None:
            return
        machine = chips.TPU_MACHINES.get(self.machine_type)
        if machine is None:
            check(False, "machine_type", f'unknown TPU machine type "{self.machine_type}"'
                  f"{did_you_mean(self.machine_type, chips.TPU_MACHINES)}; known: {', '.join(chips.TPU_MACHINES)}")
            return
        check(self.count == machine.chips, "count", f"a {self.machine_type} VM has {machine.chips} chip(s); "
              f"set count: {machine.chips}")
        if self.topology and chips.valid_topology_text(self.topology):
            try:
                _, hosts = chips.tpu_hosts(machine.accelerator, self.topology, self.machine_type)
            except ValueError as e:
                check(False, "topology", str(e))
                return
            check(self.nodes % hosts == 0, "nodes", f"a {self.topology} slice of {self.machine_type} VMs has "
                  f"{hosts} host(s); nodes must be a multiple of it (one per slice)")

    def _check_aws(self) -> None:
        instance = chips.AWS_INSTANCES.get(self.instance_type or "")
        if instance is None:
            return  # any EC2 type may be named; only the Neuron ones are checked
        check(self.count <= instance.devices, "count",
              f"a {instance.name} has {instance.devices} Neuron device(s); count is devices per node")
        if self.efa is not None and instance.efa is not None:
            check(self.efa <= instance.efa, "efa", f"a {instance.name} has {instance.efa} EFA device(s)")

    @property
    def location(self) -> str:
        return f"{self.context or '(current context)'}/{self.namespace}"


@dataclass(frozen=True)
class SshPool(PoolBase):
    """Plain SSH hosts; ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump), keys
    and the agent apply. Pool fields, when set, win over ~/.ssh/config.

    `workdir` is where each job gets its own directory on the hosts (relative: to the
    login's home). `ssh_config` and `known_hosts` default to ~/.ssh/config and
    ~/.ssh/known_hosts (or $ACCELCTL_SSH_CONFIG / $ACCELCTL_KNOWN_HOSTS).
    """

    __pydantic_config__ = STRICT
    backend: Literal["ssh"] = "ssh"
    hosts: Strings = ()
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    workdir: str = ".accelctl/jobs"
    env: dict[str, str] = field(default_factory=dict)
    host_key_policy: HostKeyPolicy = "strict"
    ssh_config: str | None = None
    known_hosts: str | None = None
    master_port: int = 29500  # MASTER_PORT of multi-host jobs

    @all_checks
    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.hosts), "hosts", "an ssh pool needs at least one host")
        check_text(self, ("hosts", "user", "identity_file", "workdir", "ssh_config", "known_hosts"))
        for host in self.hosts:
            check(not host.strip() or bool(_SSH_HOST.match(host)) and not host.startswith("-"), "hosts",
                  f'"{host}" is not a host name (letters, digits, ".", "-", "_", ":"; no spaces)')
        check(len(set(self.hosts)) == len(self.hosts), "hosts", "a host is listed twice")
        check(self.user is None or bool(re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", self.user)), "user",
              f'"{self.user}" is not a user name')
        check_range(self, ("port", "master_port"), 1, 65535)
        check(self.nodes <= len(self.hosts) or not self.hosts, "nodes",
              f"the pool has {len(self.hosts)} host(s), so at most {len(self.hosts)} node(s)")
        check("\n" not in self.workdir and "\0" not in self.workdir, "workdir", "must be one line")
        for name in self.env:
            check(bool(ENV_NAME.match(name)), "env", f'"{name}" is not an environment variable name')

    @property
    def location(self) -> str:
        return ", ".join(self.hosts)


# SshPool's checks: a host as ~/.ssh/config or a user names it (no spaces, no shell or option
# syntax); the host key policies.
_SSH_HOST = re.compile(r"^[A-Za-z0-9_.:%\[\]-]+$")
HostKeyPolicy = Literal["strict", "accept-new"]


Pool = LocalPool | RayPool | KubernetesPool | SshPool
POOL_TYPES: dict[str, type[PoolBase]] = {
    "local": LocalPool, "ray": RayPool, "kubernetes": KubernetesPool, "ssh": SshPool,
}


# --- models (the fit planner's architectures) ------------------------------------------------
