"""What a chip's detail and a comparison show, row by row: the one copy the CLI and TUI share.

Pure: plain strings and numbers plus citation markers (`[1] [3]`, numbers into
`Accelerator.source_urls`). The front ends only style them: `accelctl show`
prints them as a table, the TUI's detail panel as a grid; `accelctl compare`
and the TUI's compare view draw the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelctl.core.models import PRECISIONS, Accelerator, Tflops
from accelctl.core.numbers import num
from accelctl.core.query import Comparison

# Units of the figures, the one place front ends read them from.
UNITS = {"memory_gb": "GB", "mem_bw_tbps": "TB/s", "sram_mb": "MB", "sram_bw_tbps": "TB/s", "tdp_w": "W",
         "year": ""}


def unit(figure: str) -> str:
    """The unit a figure is stored in: `GB`, `TB/s`, `W`; `TFLOPS`, or `TOPS` for int8."""
    if figure.startswith("tflops.") or figure in PRECISIONS:
        return Tflops.unit(figure)
    return UNITS.get(figure, "")


@dataclass(frozen=True)
class DetailRow:
    """One line of a chip's detail: label, value as text, and the sources behind it."""

    label: str
    value: str
    cite: str = ""  # "[1] [3]": source numbers, empty when the row needs none
    figures: tuple[str, ...] = ()  # the figures the value shows (for styling or links)


@dataclass(frozen=True)
class SourceLine:
    """One numbered source of a chip: what `[n]` in the rows refers to."""

    number: int
    url: str
    kind: str  # vendor, cloud, benchmark, paper, press, other
    covers: tuple[str, ...]

    @property
    def text(self) -> str:
        """'[2] https://...  (vendor)': the number, the URL and its kind beside it."""
        return f"[{self.number}] {self.url}  ({self.kind})"


def detail_rows(acc: Accelerator, *, long_labels: bool = False) -> list[DetailRow]:
    """The spec rows of one chip, in display order; unknown figures read `-`.

    `long_labels`: "Memory bandwidth" and "BF16 (dense)" (the CLI) rather than
    "Bandwidth" and "BF16" (the narrower TUI panel).
    """
    cite = acc.citation
    kind = acc.kind + (f" ({acc.form})" if acc.form else "")
    rows = [DetailRow("Vendor", f"{acc.vendor} · {kind}")]
    if acc.status:
        rows.append(DetailRow("Status", f"{acc.status} (not on sale or for rent yet)"))
    rows += [
        DetailRow("Year", num(acc.year), cite("year"), ("year",)),
        DetailRow("Memory", f"{num(acc.memory_gb, 'GB')} {acc.memory_type or ''}".strip(),
                  cite("memory_gb", "memory_type"), ("memory_gb", "memory_type")),
        DetailRow("Memory bandwidth" if long_labels else "Bandwidth", num(acc.mem_bw_tbps, "TB/s"),
                  cite("mem_bw_tbps"), ("mem_bw_tbps",)),
    ]
    if acc.sram_mb is not None or acc.sram_bw_tbps is not None:
        value = num(acc.sram_mb, "MB") + (f", {num(acc.sram_bw_tbps, 'TB/s')}" if acc.sram_bw_tbps else "")
        rows.append(DetailRow("On-chip SRAM", value, cite("sram_mb", "sram_bw_tbps"), ("sram_mb", "sram_bw_tbps")))
    for p in PRECISIONS:
        peak = getattr(acc.tflops, p)
        if peak is not None:
            label = p.upper() + (" (dense)" if long_labels else "")
            rows.append(DetailRow(label, num(peak, Tflops.unit(p)), cite(f"tflops.{p}"), (f"tflops.{p}",)))
    rows += [
        DetailRow("Power", num(acc.tdp_w, "W"), cite("tdp_w"), ("tdp_w",)),
        DetailRow("Interconnect", acc.interconnect or "-", cite("interconnect"), ("interconnect",)),
        DetailRow("Software", ", ".join(acc.software) or "-"),
        DetailRow("Aliases", ", ".join(acc.aliases) or "-"),
    ]
    if acc.kubernetes:
        labels = ", ".join(f"{k}={v}" for k, v in acc.kubernetes.labels.items())
        rows.append(DetailRow("Kubernetes", acc.kubernetes.resource + (f"  ({labels})" if labels else "")))
    return rows


def source_lines(acc: Accelerator) -> list[SourceLine]:
    """Each source once, numbered as the rows cite them, with its kind and what it covers."""
    lines: dict[str, SourceLine] = {}
    for source in acc.sources:
        if source.url in lines:  # the same URL twice: one number, the union of what it covers
            old = lines[source.url]
            lines[source.url] = SourceLine(old.number, old.url, old.kind,
                                           tuple(dict.fromkeys(old.covers + source.covers)))
        else:
            lines[source.url] = SourceLine(len(lines) + 1, source.url, source.kind, source.covers)
    return list(lines.values())


@dataclass(frozen=True)
class CompareCell:
    """One value of a comparison: its text (with the ratio to the first chip) and whether it wins."""

    text: str
    best: bool


@dataclass(frozen=True)
class CompareLine:
    """One row of a comparison: a label with its unit, and one cell per chip."""

    label: str
    cells: tuple[CompareCell, ...]


COMPARE_LEGEND = "best in row (lowest power, highest otherwise); (Nx) = ratio to the first; dense figures"


def compare_lines(result: Comparison) -> list[CompareLine]:
    """The rows of `accelctl compare` and the TUI's compare view, as text cells."""
    lines = []
    for row in result.rows:
        label = f"{row.label} ({unit(row.figure)})" if unit(row.figure) else row.label
        cells = tuple(CompareCell(num(value) + (f" ({ratio:.2f}x)" if ratio is not None and i else ""), best)
                      for i, (value, best, ratio) in enumerate(zip(row.values, row.best, row.ratios)))
        lines.append(CompareLine(label, cells))
    return lines
