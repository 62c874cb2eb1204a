"""Job specs (jobs/*.yaml): what to run and what it needs, and the pool it goes to.

Specs load like the inventory: safe YAML, strict types, every problem pinned to
`path:line:column`. `--set KEY=VALUE` overrides apply before validation. Which pool a
spec goes to is `core.placement`'s business.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from accelctl.core.models import (
    CPU,
    ENV_NAME,
    EnvRef,
    Resources,
    all_checks,
    check,
    check_counts,
    check_range,
    check_text,
    valid_id,
)
from accelctl.core.problems import Problem, ProblemsFound

if TYPE_CHECKING:
    from accelctl.core.inventory import Inventory
    from accelctl.core.yaml_source import Document
from accelctl.errors import InvalidInput, NotFound

AUTO = "auto"  # `accelerator: auto`: the cheapest pool whose chips fit `model` (core.placement)
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


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
    env: dict[str, str | EnvRef] = field(default_factory=dict)  # plain values, or references (EnvRef)
    resources: Resources = field(default_factory=Resources)
    timeout: int | str | None = None  # seconds, or 30s / 10m / 2h / 1d
    retries: int = 0
    model: str | None = None  # catalog model id or alias: with `accelerator: auto`, placement sizes the job by it
    path: str = ""  # the file it came from (set by the loader, not the user)

    @all_checks
    def __post_init__(self) -> None:
        check(valid_id(self.name), "name",
               f'"{self.name}" is not a valid job name: lowercase letters, digits and "-", at most 63')
        check_text(self, ("accelerator", "pool", "image", "model"))
        check(self.accelerator != AUTO or self.model is not None, "accelerator",
              "`accelerator: auto` needs `model:` (a catalog model) to size the job")
        check(bool(self.command), "command", "must not be empty")
        check_counts(self)
        for name in self.env:
            check(bool(ENV_NAME.match(name)), "env", f'"{name}" is not an environment variable name')
        check_range(self, ("retries",), 0, 100)
        check(self.topology is None or bool(re.match(r"^\d+(x\d+){1,2}$", self.topology)), "topology",
               f'"{self.topology}" is not a topology: use e.g. 2x4 or 2x2x1')
        if isinstance(self.timeout, str):
            check(bool(_DURATION.match(self.timeout)), "timeout",
                   f'"{self.timeout}" is not a duration: use seconds or 30s, 10m, 2h, 1d')
        check(not isinstance(self.timeout, int) or self.timeout > 0, "timeout", "must be positive")

    def problem(self, key: str, message: str, hint: str = "") -> Problem:
        """A Problem pinned to where `key` was set: its line and column in the spec file,
        or `--set` when an override gave it (the loader records which). `env.NAME` keys are
        pinned to the variable's own line."""
        where: dict[str, tuple[str, int, int]] = getattr(self, "_where", {})
        path, line, column = where.get(key) or where.get(key.split(".")[0], (self.path or "<spec>", 0, 0))
        return Problem(path, line, column, key, f"{message}; {hint}" if hint else message)

    def given(self, key: str) -> bool:
        """Whether the spec file or an override set `key` (rather than its default)."""
        return key in getattr(self, "_where", {})

    @property
    def plain_env(self) -> dict[str, str]:
        """The env values given in the spec itself (no references)."""
        return {k: v for k, v in self.env.items() if isinstance(v, str)}

    @property
    def env_refs(self) -> dict[str, EnvRef]:
        """The env values given by reference (`secret:` or `from_env:`)."""
        return {k: v for k, v in self.env.items() if isinstance(v, EnvRef)}

    def secret_values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The `from_env` values, read from `environ` (the process's own by default) now, at
        submit time; an unset variable is a problem pinned to its line in the spec."""
        environ = os.environ if environ is None else environ
        values, problems = {}, []
        for name, ref in self.env_refs.items():
            if ref.from_env is None:
                continue
            if ref.from_env in environ:
                values[name] = environ[ref.from_env]
            else:
                problems.append(self.problem(f"env.{name}", f"${ref.from_env} is not set in this shell",
                                             hint=f"export {ref.from_env}=... before submitting"))
        if problems:
            raise ProblemsFound(problems)
        return values

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


def load_jobspec(path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = (),
                 inventory: Inventory | None = None) -> JobSpec:
    """Load and validate a job spec; ProblemsFound lists every problem. With an `inventory`,
    an unknown accelerator or pool is one of them (else placement finds it later)."""
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
    for loc, message, at_key in findings:
        if loc and loc[0] in overridden:
            problems.append(Problem("--set", 0, 0, format_loc(loc), message))
        else:
            problems.append(doc.problem(loc, message, key=at_key))
    if inventory is not None:
        problems += _unknown_names(data, inventory, doc, overridden)
    if problems:
        raise ProblemsFound(problems)
    # Where each top-level field came from, for problems found later (placement, backends).
    where = {str(k): ("--set", 0, 0) if k in overridden else (doc.path, *doc.position((k,)))
             for k in data if k != "path"}
    if "env" not in overridden and isinstance(data.get("env"), dict):
        where.update({f"env.{k}": (doc.path, *doc.position(("env", k))) for k in data["env"]})
    object.__setattr__(spec, "_where", where)
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


def is_jobspec(data: object) -> bool:
    """Whether a loaded YAML document is a job spec rather than an inventory file: a mapping
    with a `command` or `name` and none of the inventory's sections."""
    return isinstance(data, dict) and bool({"command", "name"} & set(data)) and not (
        {"accelerators", "reading", "pools"} & set(data))


def _unknown_names(data: dict[str, Any], inventory: Inventory, doc: Document, overridden: set[str]) -> list[Problem]:
    """The spec's accelerator and pool, looked up in the inventory: a problem for each unknown one."""
    problems = []
    for key, lookup in (("accelerator", inventory.accelerator), ("pool", inventory.pool), ("model", inventory.model)):
        name = data.get(key)
        if not isinstance(name, str) or not name.strip() or name in (CPU, AUTO):
            continue
        try:
            lookup(name)
        except NotFound as e:
            message = f"{e.message}; {e.hint}" if e.hint else e.message
            where = Problem("--set", 0, 0, key, message) if key in overridden else doc.problem((key,), message)
            problems.append(where)
    return problems
