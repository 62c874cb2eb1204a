"""Filtering, sorting and comparing: the logic the CLI and the TUI share."""

from __future__ import annotations

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.query import AcceleratorQuery, ReadingQuery, compare
from accelctl.errors import InvalidInput


@pytest.fixture(scope="module")
def inv():
    return load_inventory(use_cache=False)


def test_text_words_must_all_match(inv) -> None:
    found = AcceleratorQuery(text="nvidia h100").run(inv.accelerators)
    assert {a.id for a in found} == {"nvidia-h100-sxm", "nvidia-h100-pcie"}
    assert [a.id for a in AcceleratorQuery(text="tpu-v5-lite-podslice").run(inv.accelerators)] == ["google-tpu-v5e"]


def test_vendor_kind_and_memory_filters(inv) -> None:
    found = AcceleratorQuery(vendor="amd", kind="gpu", min_memory_gb=250).run(inv.accelerators)
    assert found and all(a.vendor == "AMD" and a.kind == "gpu" and a.memory_gb >= 250 for a in found)
    assert {a.kind for a in AcceleratorQuery(kind="tpu").run(inv.accelerators)} == {"tpu"}


def test_sort_descending_puts_unknown_last(inv) -> None:
    found = AcceleratorQuery(sort="-bf16").run(inv.accelerators)
    values = [a.tflops.bf16 for a in found]
    known = [v for v in values if v is not None]
    assert known == sorted(known, reverse=True)
    assert values[: len(known)] == known and all(v is None for v in values[len(known):])
    ascending = AcceleratorQuery(sort="tflops.bf16").run(inv.accelerators)
    assert ascending[0].tflops.bf16 == min(known) and ascending[-1].tflops.bf16 is None


def test_unknown_sort_field_suggests(inv) -> None:
    with pytest.raises(InvalidInput, match='cannot sort by "memory" \\(did you mean "memory_gb"\\?\\)'):
        AcceleratorQuery(sort="memory").run(inv.accelerators)


def test_reading_filters(inv) -> None:
    trainium = ReadingQuery(accelerator="trn2").run(inv)
    assert trainium and all("aws-trainium2" in r.accelerators for r in trainium)
    dates = [r.published for r in trainium if r.published]
    assert dates == sorted(dates, reverse=True)
    assert all("china" in r.topics for r in ReadingQuery(topic="China").run(inv))
    assert len(ReadingQuery(section="news").run(inv)) == len([r for r in inv.reading if r.section == "News"])


def test_compare_marks_best_and_ratios(inv) -> None:
    h100, mi300x, v5p = (inv.accelerator(n) for n in ("H100", "MI300X", "v5p"))
    result = compare([h100, mi300x, v5p])
    memory = next(r for r in result.rows if r.figure == "memory_gb")
    assert memory.values == (80, 192, 102)
    assert memory.best == (False, True, False)
    assert memory.ratios[0] == 1 and memory.ratios[1] == pytest.approx(2.4)
    power = next(r for r in result.rows if r.figure == "tdp_w")
    assert power.values == (700, 750, None) and power.best == (True, False, False)  # lowest power wins
    with pytest.raises(InvalidInput):
        compare([h100])
