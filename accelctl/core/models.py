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
from typing import Any, ClassVar, Literal, get_args

# Validation settings pydantic reads from each class (no pydantic import needed).
STRICT = {"extra": "forbid", "strict": True}

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


# Chips per node and nodes per job: more than this is a typo, not a cluster.
MAX_COUNT = 100_000


def check_counts(record: object) -> None:
    """`count` and `nodes` of a pool or job: at least 1, at most MAX_COUNT."""
    check_range(record, ("count", "nodes"), 1)
    for name in ("count", "nodes"):
        value = getattr(record, name)
        check(value < 1 or value <= MAX_COUNT, name, f"must be at most {MAX_COUNT} (got {value:g})")


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

    __pydantic_config__ = STRICT
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

    __pydantic_config__ = STRICT
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

    __pydantic_config__ = STRICT
    resource: str
    labels: dict[str, str] = field(default_factory=dict)

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("resource",))


@dataclass(frozen=True)
class Accelerator:
    """One chip, card, module or system of the catalog."""

    __pydantic_config__ = STRICT
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

    __pydantic_config__ = STRICT
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

    __pydantic_config__ = STRICT
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


_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a DNS subdomain (Kubernetes object name)
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")  # a Secret's data key
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EnvRef:
    """An env value that never lands in a file accelctl writes: `{secret: NAME}` (a key of a
    Kubernetes Secret, by default the variable's own name) or `{from_env: VAR}` (the
    submitting shell's variable, read at submit time and handed to the pool out of band)."""

    __pydantic_config__ = STRICT
    PLAIN_OMITS_NONE: ClassVar[bool] = True
    secret: str | None = None
    key: str | None = None
    from_env: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        check((self.secret is None) != (self.from_env is None), "secret",
              "give either `secret: NAME` (a Kubernetes Secret) or `from_env: VAR` (your shell's variable)")
        check(self.secret is None or bool(_SECRET_NAME.match(self.secret)), "secret",
              f'"{self.secret}" is not a Secret name: lowercase letters, digits, "-" and "."')
        check(self.key is None or (self.secret is not None and bool(_SECRET_KEY.match(self.key))), "key",
              "`key` goes with `secret:` and takes letters, digits, \"-\", \"_\" and \".\"")
        check(self.from_env is None or bool(ENV_NAME.match(self.from_env)), "from_env",
              f'"{self.from_env}" is not an environment variable name')

    @property
    def kind(self) -> str:
        """`secret` or `from_env`: what a pool must support to run a job with this value."""
        return "secret" if self.secret is not None else "from_env"


Attention = Literal["mha", "gqa", "mqa", "mla"]


@dataclass(frozen=True)
class Model:
    """An open model's architecture: the numbers the fit planner needs, each from `sources`.

    Parameters are in billions as the source states them (or counted from its config,
    which the notes say). A number no source confirms is None, never guessed.
    `mla_kv_width` is what multi-head latent attention caches per token and layer (the
    compressed KV rank plus the decoupled RoPE key width). `sliding_window` layers (of
    `sliding_layers`; all layers when that is None) cache at most the window's tokens.
    """

    __pydantic_config__ = STRICT
    id: str
    name: str
    params_b: float  # total parameters, billions (every expert of an MoE)
    sources: Strings
    active_params_b: float | None = None  # MoE: parameters used per token; None: dense
    layers: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None  # dense MLP width (per expert for an MoE)
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    attention: Attention | None = None
    mla_kv_width: int | None = None
    sliding_window: int | None = None
    sliding_layers: int | None = None
    experts: int | None = None  # routed experts per MoE layer
    experts_active: int | None = None  # routed experts per token
    vocab_size: int | None = None
    max_context: int | None = None
    aliases: Strings = ()
    notes: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("name", "aliases", "notes"))
        check_range(self, ("params_b", "active_params_b"), 0.001)
        check_range(self, ("layers", "hidden_size", "intermediate_size", "heads", "kv_heads", "head_dim",
                           "mla_kv_width", "sliding_window", "sliding_layers", "experts", "experts_active",
                           "vocab_size", "max_context"), 1)
        check(bool(self.sources), "sources", "a model needs at least one source URL (its config or paper)")
        for url in self.sources:
            check_url(url, "sources")
        check(self.active_params_b is None or self.active_params_b <= self.params_b, "active_params_b",
              f"more than params_b ({self.params_b:g})")
        moe = (self.experts, self.experts_active, self.active_params_b)
        check(all(v is None for v in moe) or all(v is not None for v in moe), "experts",
              "an MoE states experts, experts_active and active_params_b together; a dense model none of them")
        check(self.experts is None or self.experts_active is None or self.experts_active <= self.experts,
              "experts_active", f"more than experts ({self.experts})")
        if self.heads and self.kv_heads:
            check(self.attention == "mla" or self.heads % self.kv_heads == 0, "kv_heads",
                  f"{self.heads} heads do not split evenly over {self.kv_heads} KV heads")
            check(self.attention != "mha" or self.kv_heads == self.heads, "kv_heads",
                  "multi-head attention (mha) has as many KV heads as heads")
            check(self.attention != "gqa" or 1 < self.kv_heads < self.heads, "kv_heads",
                  "grouped-query attention (gqa) has more than one and fewer KV heads than heads")
            check(self.attention != "mqa" or self.kv_heads == 1, "kv_heads", "multi-query attention has 1 KV head")
        check((self.attention == "mla") == (self.mla_kv_width is not None), "mla_kv_width",
              "set mla_kv_width exactly when attention is mla")
        check(self.sliding_layers is None or self.sliding_window is not None, "sliding_layers",
              "needs sliding_window")
        check(self.sliding_layers is None or self.layers is None or self.sliding_layers <= self.layers,
              "sliding_layers", f"more than layers ({self.layers})")

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias: what a user may type for this model."""
        return (self.id, *self.aliases)

    @property
    def is_moe(self) -> bool:
        return self.experts is not None

    @property
    def active_params(self) -> float:
        """Parameters used per token (all of them for a dense model), as a count."""
        return (self.active_params_b if self.active_params_b is not None else self.params_b) * 1e9


_MODEL_ID = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")


def valid_model_id(value: str) -> bool:
    """Model ids are ids that may also hold "." (llama-3.1-70b, qwen2.5-72b), as model names do."""
    return bool(_MODEL_ID.match(value))


# --- prices (the fit planner's costs) ----------------------------------------------------------

_PRICE_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


@dataclass(frozen=True)
class Price:
    """An on-demand price to rent one accelerator for an hour, as one provider lists it.

    `usd_per_chip_hour` is the instance's hourly price over its `chips`; `read` is the day
    the source was read (YYYY-MM-DD): prices change, so each one is dated.
    """

    __pydantic_config__ = STRICT
    id: str
    provider: str
    accelerator: str  # catalog id or alias; normalised to the id on load
    region: str
    instance_type: str
    usd_per_chip_hour: float
    source: str
    read: str
    chips: int = 1  # accelerators in one instance
    notes: str | None = None

    @all_checks
    def __post_init__(self) -> None:
        check_text(self, ("provider", "accelerator", "region", "instance_type", "notes"))
        check_range(self, ("usd_per_chip_hour",), 0.0001)
        check_range(self, ("chips",), 1)
        check_url(self.source, "source")
        check(bool(_PRICE_DATE.match(self.read)), "read", f'"{self.read}" is not a date: use YYYY-MM-DD')

    @property
    def label(self) -> str:
        """'aws p5.48xlarge, us-east-1': where the price comes from, in a few words."""
        return f"{self.provider} {self.instance_type}, {self.region}"
