"""Job specs (jobs/*.yaml): what to run and what it needs, and the pool it goes to.

Specs load like the inventory: safe YAML, strict types, every problem pinned to
`path:line:column`. `--set KEY=VALUE` overrides apply before validation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accelctl.core.inventory import Inventory
from accelctl.core.models import CPU, Pool, check, check_range, check_text, valid_id
from accelctl.core.problems import Problem, ProblemsFound
from accelctl.errors import InvalidInput

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class Resources:
    """Host resources the job's entrypoint needs besides accelerators."""

    __pydantic_config__ = {"extra": "forbid", "strict": True}
    cpu: float | None = None
    memory: str | None = None  # Kubernetes quantity: 512Mi, 4Gi, 2G

    def __post_init__(self) -> None:
        check_range(self, ("cpu",), 0)
        check(self.memory is None or bool(_MEMORY.match(self.memory)), "memory",
               f'"{self.memory}" is not a memory quantity: use e.g. 512Mi, 4Gi, 2G')

    @property
    def memory_bytes(self) -> int | None:
        if self.memory is None:
            return None
        m = _MEMORY.match(self.memory)
        assert m  # checked in __post_init__
        number = self.memory[: len(self.memory) - len(m.group(2) or "")]
        return int(float(number) * _UNITS[m.group(2) or ""])


@dataclass(frozen=True)
class JobSpec:
    """A job: what to run and what it needs, never where the cluster is."""

    __pydantic_config__ = {"extra": "forbid", "strict": True}
    name: str
    command: str | tuple[str, ...]
    kind: Literal["training", "inference", "batch"] = "batch"
    accelerator: str = CPU  # catalog id or alias; "cpu" for none
    count: int = 1  # chips per node
    nodes: int = 1
    topology: str | None = None  # TPU slice topology, e.g. 2x4
    pool: str | None = None
    image: str | None = None  # container backends
    workdir: str | None = None  # local dir shipped with the job (relative to the spec file)
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    timeout: int | str | None = None  # seconds, or 30s / 10m / 2h / 1d
    retries: int = 0
    path: str = ""  # the file it came from (set by the loader, not the user)

    def __post_init__(self) -> None:
        check(valid_id(self.name), "name",
               f'"{self.name}" is not a valid job name: lowercase letters, digits and "-", at most 63')
        check_text(self, ("accelerator", "pool", "image"))
        check(bool(self.command), "command", "must not be empty")
        check_range(self, ("count", "nodes"), 1)
        check_range(self, ("retries",), 0, 100)
        check(self.topology is None or bool(re.match(r"^\d+(x\d+){1,2}$", self.topology)), "topology",
               f'"{self.topology}" is not a topology: use e.g. 2x4 or 2x2x1')
        if isinstance(self.timeout, str):
            check(bool(_DURATION.match(self.timeout)), "timeout",
                   f'"{self.timeout}" is not a duration: use seconds or 30s, 10m, 2h, 1d')
        check(not isinstance(self.timeout, int) or self.timeout > 0, "timeout", "must be positive")

    @property
    def timeout_s(self) -> int | None:
        """The timeout in seconds, or None."""
        if self.timeout is None or isinstance(self.timeout, int):
            return self.timeout
        m = _DURATION.match(self.timeout)
        assert m
        return int(m.group(1)) * _SECONDS[m.group(2)]

    @property
    def entrypoint(self) -> str:
        """The command as one shell line (lists are quoted word by word)."""
        if isinstance(self.command, str):
            return self.command
        import shlex

        return shlex.join(self.command)

    @property
    def workdir_path(self) -> Path | None:
        """The working dir, resolved against the spec file's directory."""
        if self.workdir is None:
            return None
        base = Path(self.path).parent if self.path else Path.cwd()
        return (base / os.path.expanduser(self.workdir)).resolve()


def load_jobspec(path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()) -> JobSpec:
    """Load and validate a job spec; ProblemsFound lists every problem."""
    from accelctl.core import validation
    from accelctl.core.yaml_source import format_loc, load_yaml_file

    doc = load_yaml_file(path)
    if not isinstance(doc.data, dict):
        raise ProblemsFound([doc.problem((), "expected a mapping with name, command, accelerator, ...")])
    data = dict(doc.data)
    problems = []
    overridden = set()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f'--set "{item}": expected KEY=VALUE', "e.g. --set count=2")
        try:
            _set(data, key.split("."), _scalar(value))
            overridden.add(key.split(".")[0])
        except ValueError as e:
            problems.append(Problem("--set", 0, 0, key, str(e)))
    if "path" in data:
        problems.append(doc.problem(("path",), "unknown field", key=True))
    data["path"] = os.fspath(path)
    spec, findings = validation.check_record(JobSpec, data)
    for loc, message, key in findings:
        if loc and loc[0] in overridden:
            problems.append(Problem("--set", 0, 0, format_loc(loc), message))
        else:
            problems.append(doc.problem(loc, message, key=key))
    if problems:
        raise ProblemsFound(problems)
    workdir = spec.workdir_path
    if workdir is not None and not workdir.is_dir():
        raise ProblemsFound([doc.problem(("workdir",), f'"{spec.workdir}" is not a directory ({workdir})')])
    return spec


def _scalar(text: str) -> Any:
    """A --set value, typed as YAML would type it (2 -> int, true -> bool)."""
    import yaml

    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def _set(data: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        child = data.get(key)
        if child is None:
            child = data[key] = {}
        if not isinstance(child, dict):
            raise ValueError(f"{key} is not a mapping")
        data[key] = child = dict(child)
        data = child
    data[keys[-1]] = value


@dataclass(frozen=True)
class Placement:
    """Where a spec goes: the pool, the resolved accelerator id, and why others were rejected."""

    pool: Pool
    accelerator: str  # catalog id, or "cpu"
    rejected: tuple[tuple[str, str], ...] = ()


def place(spec: JobSpec, inventory: Inventory, pool_name: str | None = None) -> Placement:
    """Choose the pool for `spec`: `pool_name`, else the spec's pool, else the first that fits.

    Example pools are never chosen automatically. InvalidInput lists every pool
    with the reason it was rejected when none fits.
    """
    accelerator = CPU if spec.accelerator == CPU else inventory.accelerator(spec.accelerator).id
    wanted = pool_name or spec.pool
    if wanted:
        pool = inventory.pool(wanted)
        reason = _misfit(spec, accelerator, pool, inventory, explicit=True)
        if reason:
            raise InvalidInput(f'pool "{pool.name}" cannot run {spec.name}: {reason}')
        return Placement(pool, accelerator)
    rejected = []
    for pool in inventory.pools:
        reason = _misfit(spec, accelerator, pool, inventory, explicit=False)
        if reason is None:
            return Placement(pool, accelerator, tuple(rejected))
        rejected.append((pool.name, reason))
    listing = "; ".join(f"{name}: {why}" for name, why in rejected)
    raise InvalidInput(f"no pool fits {spec.name} ({spec.count}x {accelerator} x {spec.nodes} node(s)): {listing}",
                       "add a pool in your overlay (see `accelctl pools`) or pass --pool")


def _misfit(spec: JobSpec, accelerator: str, pool: Pool, inventory: Inventory, explicit: bool) -> str | None:
    """Why `pool` cannot take `spec`, or None when it can."""
    if pool.example and not explicit:
        return "example pool (copy it to your overlay and edit it to use it)"
    pool_acc = CPU if pool.accelerator == CPU else inventory.accelerator(pool.accelerator).id
    if accelerator != CPU and pool_acc != accelerator:
        return f"has {pool_acc}, not {accelerator}"
    if accelerator != CPU and spec.count > pool.count:
        return f"has {pool.count} chip(s) per node, the job needs {spec.count}"
    if spec.nodes > pool.nodes:
        return f"has {pool.nodes} node(s), the job needs {spec.nodes}"
    return None

