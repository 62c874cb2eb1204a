"""Filter, search and sort the catalog: the one implementation the CLI and TUI share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accelctl.core.inventory import Inventory
from accelctl.core.models import PRECISIONS, Accelerator, Reading
from accelctl.core.problems import did_you_mean
from accelctl.errors import InvalidInput

# Sort keys a user may name; precisions (`bf16`) and `tflops.bf16` work too.
SORT_FIELDS = ("id", "name", "vendor", "kind", "year", "memory_gb", "mem_bw_tbps", "tdp_w") + PRECISIONS
NUMERIC = {"year", "memory_gb", "mem_bw_tbps", "tdp_w", *PRECISIONS}


@dataclass(frozen=True)
class AcceleratorQuery:
    """What `accelctl ls` and the TUI's filter bar ask for.

    `text`: words that must all appear in the id, name, vendor, kind, memory type or
    an alias (case-insensitive). `sort`: a field name, `-field` for descending.
    Numeric sorts put unknown values last in either direction.
    """

    text: str = ""
    vendor: str | None = None
    kind: str | None = None
    min_memory_gb: float | None = None
    sort: str = "vendor"

    def run(self, accelerators: Iterable[Accelerator]) -> list[Accelerator]:
        """The matching accelerators, sorted."""
        key, descending = parse_sort(self.sort)
        found = list(accelerators)
        # One pass per active filter: at 10,000 chips each pass is a few milliseconds.
        if self.vendor:
            vendor = self.vendor.lower()
            found = [a for a in found if a.vendor.lower().startswith(vendor)]
        if self.kind:
            kind = self.kind.lower()
            found = [a for a in found if a.kind == kind]
        if self.min_memory_gb is not None:
            found = [a for a in found if (a.memory_gb or 0) >= self.min_memory_gb]
        for word in self.text.lower().split():
            found = [a for a in found if word in a.search_text]
        return sort_accelerators(found, key, descending)


def parse_sort(sort: str) -> tuple[str, bool]:
    """'-memory_gb' -> ('memory_gb', True); InvalidInput for unknown fields."""
    descending = sort.startswith("-")
    key = sort.lstrip("-").removeprefix("tflops.")
    if key not in SORT_FIELDS:
        raise InvalidInput(f'cannot sort by "{key}"{did_you_mean(key, SORT_FIELDS)}',
                           f"use one of: {', '.join(SORT_FIELDS)}")
    return key, descending


def sort_accelerators(items: list[Accelerator], key: str, descending: bool = False) -> list[Accelerator]:
    """Stable sort by one field; unknown values last.

    `items` come in catalog order (vendor, then name: the inventory keeps them so),
    which therefore breaks ties.
    """
    if key == "vendor" and not descending:
        return list(items)
    if key in NUMERIC:
        known = [a for a in items if a.number(key) is not None]
        unknown = [a for a in items if a.number(key) is None]
        return sorted(known, key=lambda a: a.number(key) or 0.0, reverse=descending) + unknown
    return sorted(items, key=lambda a: str(getattr(a, key)).lower(), reverse=descending)


@dataclass(frozen=True)
class ReadingQuery:
    """What `accelctl read` asks for: text words plus exact filters.

    `accelerator` takes an id or alias; `topic` and `section` match case-insensitively.
    """

    text: str = ""
    accelerator: str | None = None
    topic: str | None = None
    section: str | None = None

    def run(self, inventory: Inventory) -> list[Reading]:
        """Matching articles, newest first (undated ones last)."""
        acc_id = inventory.accelerator(self.accelerator).id if self.accelerator else None
        words = self.text.lower().split()
        topic = self.topic.lower() if self.topic else None
        section = self.section.lower() if self.section else None
        found = [r for r in inventory.reading
                 if (acc_id is None or acc_id in r.accelerators)
                 and (topic is None or topic in (t.lower() for t in r.topics))
                 and (section is None or r.section.lower() == section)
                 and all(w in _reading_haystack(r) for w in words)]
        dated = sorted((r for r in found if r.published), key=lambda r: r.published or "", reverse=True)
        return dated + [r for r in found if not r.published]


def _reading_haystack(r: Reading) -> str:
    return " ".join((r.url, r.title, r.site, r.section, *r.topics, *r.accelerators)).lower()


@dataclass(frozen=True)
class Comparison:
    """Accelerators side by side: for each figure, the values, the best, ratios to the first."""

    accelerators: tuple[Accelerator, ...]
    rows: tuple[ComparisonRow, ...]


@dataclass(frozen=True)
class ComparisonRow:
    figure: str  # memory_gb, tflops.bf16, ...
    label: str
    unit: str
    values: tuple[float | None, ...]
    best: tuple[bool, ...]  # per accelerator: holds the best value of the row
    ratios: tuple[float | None, ...]  # value / first value; None when either is unknown


# figure, label, unit, whether higher is better
COMPARED = (
    ("memory_gb", "Memory", "GB", True),
    ("mem_bw_tbps", "Memory bandwidth", "TB/s", True),
    *((f"tflops.{p}", p.upper(), "TOPS" if p == "int8" else "TFLOPS", True) for p in PRECISIONS),
    ("tdp_w", "Power", "W", False),
    ("year", "Year", "", True),
)


def compare(accelerators: list[Accelerator]) -> Comparison:
    """Build a comparison; rows where no accelerator has a value are left out."""
    if len(accelerators) < 2:
        raise InvalidInput("compare needs at least two accelerators", "e.g. `accelctl compare H100 MI300X`")
    rows = []
    for figure, label, unit, higher in COMPARED:
        values = tuple(a.number(figure) for a in accelerators)
        known = [v for v in values if v is not None]
        if not known:
            continue
        target = max(known) if higher else min(known)
        # Only mark a winner when the chips differ; years are context, not a contest.
        best = tuple(v == target and len(set(known)) > 1 and figure != "year" for v in values)
        first = values[0]
        ratios = tuple(None if v is None or not first or figure == "year" else v / first for v in values)
        rows.append(ComparisonRow(figure, label, unit, values, best, ratios))
    return Comparison(tuple(accelerators), tuple(rows))

