"""The inventory: the bundled catalog with the user's overlay merged over it.

Entries merge by key (accelerators by `id`, reading by `url`, pools by `name`):
an overlay entry with a known key replaces the fields it names and keeps the
rest; a new key adds an entry. Every problem is reported against the file and
line that supplied the field at fault.

Validated inventories are cached (pickled) in the XDG cache dir, keyed by the
bytes of every input file and accelctl's own code, so `accelctl ls` skips
parsing and validation when nothing changed. Only a clean inventory is cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelctl import __version__, paths
from accelctl.core.files import read_capped
from accelctl.core.models import CPU, Accelerator, Model, Price, Reading, valid_id, valid_model_id
from accelctl.core.pools import POOL_TYPES, Pool
from accelctl.core.problems import Problem, ProblemsFound, did_you_mean
from accelctl.errors import NotFound

if TYPE_CHECKING:
    from accelctl.core.yaml_source import Document, Loc

CACHE_KEEP = 4  # validated inventories kept in the cache dir
# section -> the field entries merge by
SECTIONS = {"accelerators": "id", "reading": "url", "pools": "name", "models": "id", "prices": "id"}


@dataclass(frozen=True)
class Inventory:
    """The merged, validated catalog. Reading entries link accelerators by id."""

    accelerators: tuple[Accelerator, ...] = ()
    reading: tuple[Reading, ...] = ()
    pools: tuple[Pool, ...] = ()
    files: tuple[str, ...] = field(default=())
    models: tuple[Model, ...] = ()
    prices: tuple[Price, ...] = ()

    def prices_for(self, accelerator_id: str) -> list[Price]:
        """The listed prices of one accelerator (by catalog id), cheapest first."""
        return sorted((p for p in self.prices if p.accelerator == accelerator_id), key=lambda p: p.usd_per_chip_hour)

    @cached_property
    def _by_name(self) -> dict[str, Accelerator]:
        return {name.lower(): acc for acc in self.accelerators for name in acc.names}

    @cached_property
    def _models_by_name(self) -> dict[str, Model]:
        return {name.lower(): m for m in self.models for name in m.names}

    def model(self, name: str) -> Model:
        """The model with this id or alias (case-insensitive); NotFound with a suggestion otherwise."""
        found = self._models_by_name.get(name.strip().lower())
        if found is None:
            raise NotFound(f'unknown model "{name}"{did_you_mean(name, self._models_by_name)}',
                           "see `accelctl fit --list`")
        return found

    def find(self, name: str) -> Accelerator | None:
        """The accelerator with this id or alias (case-insensitive), or None."""
        return self._by_name.get(name.strip().lower())

    def accelerator(self, name: str) -> Accelerator:
        """The accelerator with this id or alias; NotFound with a suggestion otherwise."""
        acc = self.find(name)
        if acc is None:
            raise NotFound(f'unknown accelerator "{name}"{did_you_mean(name, self._by_name)}',
                           "see `accelctl ls`")
        return acc

    def pool(self, name: str) -> Pool:
        """The pool with this name; NotFound with a suggestion otherwise."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        names = [p.name for p in self.pools]
        raise NotFound(f'unknown pool "{name}"{did_you_mean(name, names)}', "see `accelctl pools`")

    def reading_for(self, accelerator_id: str) -> list[Reading]:
        """Articles linked to one accelerator, newest first."""
        linked = [r for r in self.reading if accelerator_id in r.accelerators]
        return sorted(linked, key=lambda r: r.published or "", reverse=True)


def load_inventory(overlay: str | os.PathLike[str] | None = None, *, use_cache: bool = True) -> Inventory:
    """Load the bundled inventory and `overlay` (if any) over it.

    Raises ProblemsFound listing the problems of the first file that has any.
    """
    files = [paths.bundled_inventory()] + ([Path(overlay)] if overlay else [])
    raw = [(os.fspath(f), read_capped(f)) for f in files]
    cache_file = _cache_file(raw) if use_cache else None
    if cache_file is not None:
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached
    from accelctl.core.yaml_source import load_yaml_bytes  # only on a cache miss

    inventory = build_inventory([load_yaml_bytes(data, name) for name, data in raw])
    if cache_file is not None:
        _write_cache(cache_file, inventory)
    return inventory


def check_inventory_files(files: list[str | os.PathLike[str]]) -> dict[str, list[Problem]]:
    """Validate each file merged over the bundled inventory; problems by file.

    The bundled file itself is checked once, first.
    """
    from accelctl.core.yaml_source import load_yaml_bytes

    bundled = os.fspath(paths.bundled_inventory())
    results: dict[str, list[Problem]] = {}
    base: list[Document] = []
    for name in [bundled] + [os.fspath(f) for f in files if os.fspath(f) != bundled]:
        try:
            doc = load_yaml_bytes(read_capped(name), name)
            build_inventory(base + [doc])
            results[name] = []
            if not base:
                base = [doc]
        except ProblemsFound as e:
            results[name] = e.problems
    return results


def build_inventory(documents: list[Document]) -> Inventory:
    """Merge documents in order (later wins) and validate the result."""
    merger = _Merger()
    for doc in documents:
        merger.add(doc)
    inventory = merger.validate()
    merger.raise_if_problems()
    return inventory


# --- cache -------------------------------------------------------------------------------

def _cache_file(raw: list[tuple[str, bytes]]) -> Path:
    digest = hashlib.sha256(__version__.encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(f"{module.name}:{module.stat().st_mtime_ns}".encode())
    for name, data in raw:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return paths.cache_dir() / f"inventory-{digest.hexdigest()[:24]}.pickle"


def _read_cache(path: Path) -> Inventory | None:
    try:
        with open(path, "rb") as f:
            value = pickle.load(f)
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None  # unreadable or from another version: rebuild
    return value if isinstance(value, Inventory) else None


def _write_cache(path: Path, inventory: Inventory) -> None:
    """Best effort: a read-only or full cache dir only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep a few recent inventories (bundled alone, with an overlay, ...), drop older ones.
        older = sorted(path.parent.glob("inventory-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in older[CACHE_KEEP - 1:]:
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(inventory, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # caching is an optimisation; the inventory itself is already valid


# --- merging and validation ----------------------------------------------------------------

@dataclass
class _Entry:
    """One merged entry: its fields, and which document (and location) gave each."""

    anchor: tuple[Document, Loc]
    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, tuple[Document, Loc]] = field(default_factory=dict)

    def where(self, loc: Loc) -> tuple[Document, Loc]:
        """The document and absolute location of a field path inside this entry."""
        if loc and loc[0] in self.origin:
            doc, prefix = self.origin[loc[0]]
            return doc, prefix + tuple(loc)
        doc, prefix = self.anchor
        return doc, prefix


class _Merger:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, _Entry]] = {s: {} for s in SECTIONS}
        self.problems: list[Problem] = []
        self.files: list[str] = []

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ProblemsFound(self.problems)

    def add(self, doc: Document) -> None:
        self.files.append(doc.path)
        if doc.data is None:
            return  # an empty overlay is allowed
        if not isinstance(doc.data, dict):
            self.problems.append(doc.problem((), "expected a mapping with accelerators, reading and pools"))
            return
        for section, items in doc.data.items():
            if section not in SECTIONS:
                self.problems.append(doc.problem((section,), (
                    f"unknown section{did_you_mean(section, SECTIONS)}; expected one of: {', '.join(SECTIONS)}"),
                    key=True))
            elif items is None:
                continue
            elif not isinstance(items, list):
                self.problems.append(doc.problem((section,), "expected a list of entries"))
            else:
                self._add_section(doc, section, items)

    def _add_section(self, doc: Document, section: str, items: list[Any]) -> None:
        key_field = SECTIONS[section]
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            loc = (section, i)
            if not isinstance(item, dict):
                self.problems.append(doc.problem(loc, "expected a mapping"))
                continue
            key = item.get(key_field)
            if not isinstance(key, str) or not key:
                self.problems.append(doc.problem(loc, f"missing `{key_field}` (a non-empty string)"))
                continue
            if key_field != "url" and not (valid_model_id if section == "models" else valid_id)(key):
                allowed = 'lowercase letters, digits, "-" and "."' if section == "models" else \
                    'lowercase letters, digits and "-"'
                self.problems.append(doc.problem(loc + (key_field,), (
                    f'"{key}" is not a valid {key_field}: use {allowed} (at most 63)')))
                continue
            if key in seen:
                first_line = doc.position((section, seen[key]))[0]
                self.problems.append(doc.problem(loc + (key_field,), (
                    f'duplicate {key_field} "{key}" (first at line {first_line}); remove or rename one')))
                continue
            seen[key] = i
            entry = self.entries[section].setdefault(key, _Entry(anchor=(doc, loc)))
            for name, value in item.items():
                entry.data[name] = value
                entry.origin[name] = (doc, loc)

    def validate(self) -> Inventory:
        # Catalog order: vendor, then name. Queries keep it, so it breaks their ties.
        accelerators = sorted((acc for acc, _ in self._validate("accelerators", lambda _: Accelerator)),
                              key=lambda a: (a.vendor.lower(), a.name.lower()))
        by_name = self._names()
        reading = [self._link_reading(r, entry, by_name) for r, entry in self._validate("reading", lambda _: Reading)]
        pools = []
        for pool, entry in self._validate("pools", self._pool_type):
            if pool.accelerator != CPU and pool.accelerator.lower() not in by_name:
                self._fail(entry, ("accelerator",), f'unknown accelerator "{pool.accelerator}"'
                           f'{did_you_mean(pool.accelerator, [*by_name, CPU])}')
            elif pool.accelerator != CPU:  # pools name their chip by id from here on, as reading does
                pool = dataclasses.replace(pool, accelerator=by_name[pool.accelerator.lower()])
            if pool.price_per_chip_hour is not None and pool.price_per_chip_hour <= 0:
                self._fail(entry, ("price_per_chip_hour",), f"must be above 0 (got {pool.price_per_chip_hour:g})")
            pools.append(pool)
        models = [m for m, _ in self._validate("models", lambda _: Model)]
        self._unique_names("models")
        prices = []
        for price, entry in self._validate("prices", lambda _: Price):
            if price.accelerator.lower() not in by_name:
                self._fail(entry, ("accelerator",), f'unknown accelerator "{price.accelerator}"'
                           f'{did_you_mean(price.accelerator, by_name)}')
            else:
                prices.append(dataclasses.replace(price, accelerator=by_name[price.accelerator.lower()]))
        return Inventory(tuple(accelerators), tuple(reading), tuple(pools), tuple(self.files),
                         models=tuple(sorted(models, key=lambda m: m.id)),
                         prices=tuple(sorted(prices, key=lambda p: (p.accelerator, p.usd_per_chip_hour, p.id))))

    def _validate(self, section: str, record_type: Callable[[_Entry], type | None]) -> list[tuple[Any, _Entry]]:
        from accelctl.core import validation  # pydantic loads only here, on a cache miss

        def report(entry: _Entry, finding: tuple[Loc, str, bool]) -> None:
            self._fail(entry, finding[0], finding[1], key=finding[2])

        return validation.validate_entries(self.entries[section].values(), record_type, lambda e: e.data, report)

    def _pool_type(self, entry: _Entry) -> type | None:
        """The pool record type its `backend` names; None (and a problem) for an unknown one."""
        backend = entry.data.get("backend")
        if isinstance(backend, str) and backend in POOL_TYPES:
            return POOL_TYPES[backend]
        hint = did_you_mean(str(backend), POOL_TYPES) if isinstance(backend, str) else ""
        self._fail(entry, ("backend",) if "backend" in entry.data else (),
                   f"backend must be one of {', '.join(POOL_TYPES)}{hint}", key="backend" not in entry.data)
        return None

    def _names(self) -> dict[str, str]:
        """Lower-cased accelerator id and alias -> id, from the merged entries (valid or not, so
        that one broken accelerator does not make every reference to it an error too)."""
        return self._unique_names("accelerators")

    def _unique_names(self, section: str) -> dict[str, str]:
        """Lower-cased id and alias -> id for one section's entries; a name used twice is a problem."""
        by_name: dict[str, str] = {}
        for key, entry in self.entries[section].items():
            aliases = entry.data.get("aliases")
            names = [key] + (aliases if isinstance(aliases, list) else [])
            for i, name in enumerate(names):
                if not isinstance(name, str):
                    continue  # the type check reports it
                other = by_name.setdefault(name.lower(), key)
                if other != key:
                    self._fail(entry, ("aliases", i - 1) if i else ("id",),
                               f'"{name}" already names {other}; aliases must be unique')
        return by_name

    def _link_reading(self, reading: Reading, entry: _Entry, by_name: dict[str, str]) -> Reading:
        ids = []
        for i, name in enumerate(reading.accelerators):
            if name.lower() in by_name:
                ids.append(by_name[name.lower()])
            else:
                self._fail(entry, ("accelerators", i), f'unknown accelerator "{name}"{did_you_mean(name, by_name)}')
        return Reading(**{**reading.__dict__, "accelerators": tuple(dict.fromkeys(ids))})

    def _fail(self, entry: _Entry, loc: Loc, message: str, *, key: bool = False) -> None:
        doc, where = entry.where(loc)
        self.problems.append(doc.problem(where, message, key=key))
