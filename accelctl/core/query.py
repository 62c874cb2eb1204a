"""Filter, search and sort the catalog: the one implementation the CLI and TUI share."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from accelctl.core.inventory import Inventory
from accelctl.core.models import PRECISIONS, Accelerator, Reading
from accelctl.core.problems import did_you_mean
from accelctl.errors import InvalidInput

# Sort keys a user may name; precisions (`bf16`) and `tflops.bf16` work too.
SORT_FIELDS = ("id", "name", "vendor", "kind", "year", "memory_gb", "mem_bw_tbps", "sram_mb", "tdp_w") + PRECISIONS
NUMERIC = {"year", "memory_gb", "mem_bw_tbps", "sram_mb", "tdp_w", *PRECISIONS}

# Figures a filter compares (`mem>100`), by the names a user types, and the field each reads.
FIGURE_TERMS = {"mem": "memory_gb", "memory": "memory_gb", "memory_gb": "memory_gb", "bw": "mem_bw_tbps",
                "bandwidth": "mem_bw_tbps", "mem_bw_tbps": "mem_bw_tbps", "sram": "sram_mb", "sram_mb": "sram_mb",
                "tdp": "tdp_w", "power": "tdp_w", "tdp_w": "tdp_w", "year": "year",
                **{p: p for p in PRECISIONS}}
FIGURE_NAMES = ("mem", "bw", "sram", "tdp", "year", *PRECISIONS)  # the short names, for help
# Text fields a filter matches (`kind:tpu`): an exact kind, a vendor or memory-type prefix.
TEXT_TERMS = ("kind", "vendor", "form", "status", "memtype")
_COMPARE = re.compile(r"^([a-z_0-9]+)(>=|<=|!=|>|<|=)(.*)$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq, "!=": operator.ne}
FILTER_HELP = ("words, figure comparisons (mem>100, bf16>=1000, bw>4, tdp<=700, year>=2024, sram>0) "
               "and fields (kind:tpu, vendor:amd, form:card, status:announced, memtype:hbm3e)")


@dataclass(frozen=True)
class AcceleratorQuery:
    """What `accelctl ls` and the TUI's filter bar ask for.

    `text`: terms that must all hold (case-insensitive): a word appears in the id, name,
    vendor, kind, memory type or an alias; `FIGURE OP NUMBER` compares a figure
    (`mem>100`, `bf16>=1000`; a chip whose figure is unknown never matches); `FIELD:VALUE`
    matches a text field (`kind:tpu`, `vendor:amd`). `sort`: a field name, `-field` for
    descending. Numeric sorts put unknown values last in either direction. InvalidInput
    names the term at fault and what exists.
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
        for test in parse_filter(self.text):
            found = [a for a in found if test(a)]
        return sort_accelerators(found, key, descending)


def parse_filter(text: str) -> list[Callable[[Accelerator], bool]]:
    """One test per term of a filter (see AcceleratorQuery); InvalidInput for a bad term."""
    tests = []
    for term in text.lower().split():
        compared = _COMPARE.match(term)
        field, sep, value = term.partition(":")
        if compared:
            tests.append(_figure_test(*compared.groups()))
        elif sep and field and not field.startswith(("http", "//")):
            tests.append(_text_test(field, value))
        else:
            tests.append(_word_test(term))
    return tests


def _word_test(word: str) -> Callable[[Accelerator], bool]:
    return lambda acc: word in acc.search_text


def _figure_test(name: str, op: str, value: str) -> Callable[[Accelerator], bool]:
    field = FIGURE_TERMS.get(name)
    if field is None:
        raise InvalidInput(f'filter "{name}{op}{value}": no figure "{name}"{did_you_mean(name, FIGURE_TERMS)}',
                           f"figures: {', '.join(FIGURE_NAMES)}")
    try:
        bound = float(value)
    except ValueError:
        raise InvalidInput(f'filter "{name}{op}{value}": "{value}" is not a number', f"e.g. {name}{op}100"
                           ) from None
    compare = _OPS[op]

    def test(acc: Accelerator) -> bool:
        figure = acc.number(field)
        return figure is not None and compare(figure, bound)

    return test


def _text_test(name: str, value: str) -> Callable[[Accelerator], bool]:
    if name not in TEXT_TERMS:
        raise InvalidInput(f'filter "{name}:{value}": no field "{name}"{did_you_mean(name, TEXT_TERMS)}',
                           f"fields: {', '.join(TEXT_TERMS)}; figures compare with > < = (mem>100)")
    if name == "kind":
        return lambda a: a.kind == value
    if name == "memtype":
        return lambda a: (a.memory_type or "").lower().startswith(value)
    return lambda a: str(getattr(a, name) or "").lower().startswith(value)


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

