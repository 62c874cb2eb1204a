"""The catalog's data: accelerators, reading, pools.

Plain frozen dataclasses, so that `accelctl ls` builds them without loading a
validation library. pydantic enforces their (strict) types when `core.validation`
checks a file; ranges and checks that span fields live in `__post_init__` and
raise `FieldError` naming the field at fault.

Figures are dense peak numbers as the vendor states them; unknown ones are None.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

# Validation settings pydantic reads from each class (no pydantic import needed).
_STRICT = {"extra": "forbid", "strict": True}

Kind = Literal["gpu", "tpu", "trainium", "inferentia", "npu", "lpu", "wafer-scale", "analog", "asic",
               "probabilistic"]
Form = Literal["chip", "card", "module", "superchip", "system", "ip"]
PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
# Figures that must be backed by a source when present; `tflops` stands for all precisions.
FIGURES = ("year", "memory_gb", "memory_type", "mem_bw_tbps", "sram_mb", "sram_bw_tbps", "tdp_w", "interconnect")
COVERABLE = frozenset(FIGURES + ("tflops",) + tuple(f"tflops.{p}" for p in PRECISIONS))
# What a source is. The first four are "first-party" (primary) kinds: the maker, the
# cloud that rents the chip, an audited benchmark, a peer-reviewed paper or the maker's
# own conference deck. `press` is a named publication's reporting; `other` the rest.
SourceKind = Literal["vendor", "cloud", "benchmark", "paper", "press", "other"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
PRIMARY_KINDS = frozenset({"vendor", "cloud", "benchmark", "paper"})
# Not on sale or for rent yet: such a chip has a status and no `year`.
Status = Literal["announced", "rumoured"]
CPU = "cpu"  # the accelerator of pools and jobs that need none

Strings = tuple[str, ...]

_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_URL = re.compile(r"^https?://\S+$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class FieldError(ValueError):
    """A cross-field check failed; `field` names the field to point at."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class FieldErrors(FieldError):
    """Several cross-field checks of one record failed: all of them, for one-pass reports
    (as a FieldError it names the first field)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].field, "; ".join(str(e) for e in errors))
        self.errors = errors


# The failed checks of the record whose `__post_init__` runs now (see `all_checks`); a
# context variable, so records built in other threads or tasks never mix their findings.
_FAILED: ContextVar[list[FieldError] | None] = ContextVar("accelctl_failed_checks", default=None)


def all_checks(post_init: Callable[[Any], None]) -> Callable[[Any], None]:
    """Run a `__post_init__` to its end, then raise every check that failed in it (one
    FieldError, or FieldErrors for several), so a file's problems are reported in one pass."""

    @functools.wraps(post_init)
    def run(self: Any) -> None:
        if _FAILED.get() is not None:  # super().__post_init__() inside a record's own checks
            post_init(self)
            return
        token = _FAILED.set([])
        try:
            post_init(self)
            failed = _FAILED.get() or []
        finally:
            _FAILED.reset(token)
        if len(failed) == 1:
            raise failed[0]
        if failed:
            raise FieldErrors(failed)

    return run


def check(ok: bool, field_name: str, message: str) -> None:
    """Fail with FieldError(field_name, message) unless `ok`: raised at once, or, inside an
    `all_checks` __post_init__, when the record's checks are done."""
    if ok:
        return
    error = FieldError(field_name, message)
    failed = _FAILED.get()
    if failed is None:
        raise error
    failed.append(error)


def valid_id(value: str) -> bool:
    """Ids and pool names are RFC 1123 labels: lowercase letters, digits and '-'."""
    return bool(_ID.match(value))


def check_range(record: object, names: tuple[str, ...], low: float, high: float | None = None) -> None:
    """Each named number of `record` is None or within [low, high]."""
    for name in names:
        value = getattr(record, name)
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            check(False, name, f"must be {bound} (got {value:g})")


def check_text(record: object, names: tuple[str, ...]) -> None:
    """Each named string (or each string of a named tuple) is None or not blank."""
    for name in names:
        value = getattr(record, name)
        for text in value if isinstance(value, tuple) else (value,):
            check(text is None or bool(text.strip()), name, "must not be empty")


def check_url(value: str | None, field_name: str) -> None:
    check(value is None or bool(_URL.match(value)), field_name, f'"{value}" is not an http(s) URL')


@dataclass(frozen=True)
class Tflops:
    """Dense peak throughput per precision, in TFLOPS (TOPS for int8)."""

    @staticmethod
    def unit(precision: str) -> str:
        """The unit of one precision's figure: TOPS for integer math, TFLOPS otherwise."""
        return "TOPS" if precision.removeprefix("tflops.") == "int8" else "TFLOPS"

    __pydantic_config__ = _STRICT
    fp32: float | None = None
    tf32: float | None = None
    bf16: float | None = None
    fp16: float | None = None
    fp8: float | None = None
    int8: float | None = None
    fp4: float | None = None

    @all_checks
    def __post_init__(self) -> None:
        check_range(self, PRECISIONS, 0)


@dataclass(frozen=True)
class Source:
    """A URL, what kind of source it is, and the figures it backs (none: context only)."""

    __pydantic_config__ = _STRICT
    url: str
    covers: Strings = ()
    kind: SourceKind = "other"

    @property
    def primary(self) -> bool:
        """The maker's, a cloud's, an audited benchmark's or a paper's own page."""
        return self.kind in PRIMARY_KINDS

    @all_checks
    def __post_init__(self) -> None:
        check_url(self.url, "url")
        for name in self.covers:
            check(name in COVERABLE, "covers",
                   f'"{name}" is not a figure; use one of: {", ".join(sorted(COVERABLE))}')


@dataclass(frozen=True)
class KubernetesInfo:
    """How Kubernetes exposes the chip: the device plugin's resource and node labels."""

    __pydantic_config__ = _STRICT
    resource: str
    labels: dict[str, str] = field(default_factory=dict)

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("resource",))


@dataclass(frozen=True)
class Accelerator:
    """One chip, card, module or system of the catalog."""

    __pydantic_config__ = _STRICT
    id: str
    name: str
    vendor: str
    kind: Kind
    form: Form | None = None
    year: int | None = None
    memory_gb: float | None = None
    memory_type: str | None = None
    mem_bw_tbps: float | None = None  # off-chip memory only (HBM, GDDR, LPDDR); SRAM below
    sram_mb: float | None = None  # on-chip SRAM where the vendor states it (MB, 10^6 bytes)
    sram_bw_tbps: float | None = None
    tflops: Tflops = field(default_factory=Tflops)
    tdp_w: float | None = None
    interconnect: str | None = None
    software: Strings = ()
    kubernetes: KubernetesInfo | None = None
    aliases: Strings = ()
    sources: tuple[Source, ...] = ()  # required in effect: every figure needs one
    status: Status | None = None  # None: on sale or for rent
    notes: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("name", "vendor", "memory_type", "interconnect", "software", "aliases"))
        check_range(self, ("year",), 1990, 2100)
        check_range(self, ("memory_gb", "mem_bw_tbps", "sram_mb", "sram_bw_tbps", "tdp_w"), 0)
        check(self.status is None or self.year is None, "year",
              f"a chip with `status: {self.status}` has no year yet (year is when it went on "
              "sale or for rent); give the announcement date in notes")
        covered = {name for s in self.sources for name in s.covers}
        missing = [f for f in FIGURES if getattr(self, f) is not None and f not in covered]
        missing += [f"tflops.{p}" for p in PRECISIONS if getattr(self.tflops, p) is not None
                    and not {"tflops", f"tflops.{p}"} & covered]
        check(not missing, "sources",
               f"no source covers {', '.join(missing)}: add its URL with `covers: [...]`")

    def figure(self, name: str) -> float | str | None:
        """A figure by name: `memory_gb`, `tflops.bf16` or plain `bf16`."""
        name = name.removeprefix("tflops.")
        if name in PRECISIONS:
            return getattr(self.tflops, name)
        return getattr(self, name)

    def number(self, name: str) -> float | None:
        """A numeric figure by name, or None when it is unknown or not a number (memory_type)."""
        value = self.figure(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def sources_for(self, name: str) -> list[str]:
        """URLs that back one figure (`memory_gb`, `tflops.bf16`, ...)."""
        return [s.url for s in self.backing(name)]

    def backing(self, name: str) -> list[Source]:
        """The sources that back one figure (`memory_gb`, `tflops.bf16`, ...)."""
        wanted = {name, "tflops"} if name.startswith("tflops.") else {name}
        return [s for s in self.sources if wanted & set(s.covers)]

    @property
    def stored_figures(self) -> list[str]:
        """The names of the figures this entry states (`year`, `tflops.bf16`, ...)."""
        return [f for f in FIGURES if getattr(self, f) is not None] + \
            [f"tflops.{p}" for p in PRECISIONS if getattr(self.tflops, p) is not None]

    @property
    def source_urls(self) -> list[str]:
        """Each source URL once, in order: the numbering `citation` refers to."""
        return list(dict.fromkeys(s.url for s in self.sources))

    def citation(self, *figures: str) -> str:
        """'[1] [3]': the numbers (in `source_urls`) of the sources behind these figures."""
        number = {url: i for i, url in enumerate(self.source_urls, 1)}
        urls = dict.fromkeys(url for f in figures for url in self.sources_for(f))
        return " ".join(f"[{number[url]}]" for url in urls)

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias: what a user may type for this chip."""
        return (self.id, *self.aliases)

    @cached_property
    def search_text(self) -> str:
        """Lower-cased words a text filter looks in (computed once per chip)."""
        return " ".join((self.id, self.name, self.vendor, self.kind, self.memory_type or "", *self.aliases)).lower()


@dataclass(frozen=True)
class Reading:
    """An article of the reading list. `title` is empty where no source confirms it."""

    __pydantic_config__ = _STRICT
    url: str
    title: str = ""
    site: str = ""
    published: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    section: str = ""
    discussion_url: str | None = None
    topics: Strings = ()
    accelerators: Strings = ()  # catalog ids or aliases; normalised to ids on load

    @all_checks
    def __post_init__(self) -> None:
        check_url(self.url, "url")
        check_url(self.discussion_url, "discussion_url")
        check(self.published is None or bool(_DATE.match(self.published)), "published",
               f'"{self.published}" is not a date: use YYYY, YYYY-MM or YYYY-MM-DD')


@dataclass(frozen=True)
class Resources:
    """Host resources the job's entrypoint needs besides accelerators."""

    __pydantic_config__ = _STRICT
    cpu: float | None = None
    memory: str | None = None  # Kubernetes quantity: 512Mi, 4Gi, 2G

    @all_checks
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
class PoolBase:
    """Fields every pool has, whatever its backend."""

    name: str
    accelerator: str  # catalog id or alias, or "cpu"
    count: int = 1  # chips per node
    nodes: int = 1  # nodes the pool can give one job
    example: bool = False  # shipped as an example: edit before use
    description: str = ""

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("accelerator",))
        check_range(self, ("count", "nodes"), 1)

    @property
    def location(self) -> str:
        """Where the pool is, in a few words (address, context, hosts)."""
        return ""


@dataclass(frozen=True)
class LocalPool(PoolBase):
    """The embedded Ray head on 127.0.0.1, started on demand."""

    __pydantic_config__ = _STRICT
    backend: Literal["local"] = "local"

    @property
    def location(self) -> str:
        return "127.0.0.1 (started on demand)"


@dataclass(frozen=True)
class RayPool(PoolBase):
    """A remote Ray cluster, reached through its Jobs API (dashboard address)."""

    __pydantic_config__ = _STRICT
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
        check(self.auth_token_env is None or bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.auth_token_env)),
              "auth_token_env", f'"{self.auth_token_env}" is not an environment variable name')

    @property
    def location(self) -> str:
        return self.address or "$RAY_ADDRESS"


@dataclass(frozen=True)
class KubernetesPool(PoolBase):
    """A Kubernetes cluster, by kubeconfig context."""

    __pydantic_config__ = _STRICT
    backend: Literal["kubernetes"] = "kubernetes"
    context: str | None = None  # None: kubeconfig's current context
    namespace: str = "default"
    node_selector: dict[str, str] = field(default_factory=dict)
    topology: str | None = None  # TPU slice topology, e.g. 2x4

    @all_checks
    def __post_init__(self) -> None:
        super().__post_init__()
        check_text(self, ("context", "namespace", "topology"))

    @property
    def location(self) -> str:
        return f"{self.context or '(current context)'}/{self.namespace}"


@dataclass(frozen=True)
class SshPool(PoolBase):
    """Plain SSH hosts; ~/.ssh/config, keys and the agent apply."""

    __pydantic_config__ = _STRICT
    backend: Literal["ssh"] = "ssh"
    hosts: Strings = ()
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.hosts), "hosts", "an ssh pool needs at least one host")
        check_text(self, ("hosts", "user", "identity_file"))
        check_range(self, ("port",), 1, 65535)

    @property
    def location(self) -> str:
        return ", ".join(self.hosts)


Pool = LocalPool | RayPool | KubernetesPool | SshPool
POOL_TYPES: dict[str, type[PoolBase]] = {
    "local": LocalPool, "ray": RayPool, "kubernetes": KubernetesPool, "ssh": SshPool,
}
