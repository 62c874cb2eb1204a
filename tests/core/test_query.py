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


def test_filters_compare_figures_and_match_fields() -> None:
    inv = load_inventory(use_cache=False)
    chips = inv.accelerators

    def ids(text: str) -> set[str]:
        return {a.id for a in AcceleratorQuery(text=text).run(chips)}

    assert ids("mem>100") == {a.id for a in chips if a.memory_gb is not None and a.memory_gb > 100}
    assert ids("bf16>=1000 bw>4") == {a.id for a in chips if (a.tflops.bf16 or 0) >= 1000
                                      and (a.mem_bw_tbps or 0) > 4}
    assert ids("tdp<=700 year>=2024") == {a.id for a in chips if a.tdp_w is not None and a.tdp_w <= 700
                                          and a.year is not None and a.year >= 2024}
    assert ids("kind:tpu") == {a.id for a in chips if a.kind == "tpu"} and ids("kind:tpu")
    assert ids("vendor:amd") == {a.id for a in chips if a.vendor == "AMD"}
    assert ids("NVIDIA mem>=80") == {a.id for a in chips if "nvidia" in a.search_text
                                     and (a.memory_gb or 0) >= 80}
    assert "nvidia-h100-sxm" in ids("nvidia mem>=80") and "nvidia-l4" not in ids("nvidia mem>=80")
    assert ids("mem>100000") == set()


@pytest.mark.parametrize(("text", "message"), [
    ("memm>1", 'filter "memm>1": no figure "memm" (did you mean "mem"?) (figures: mem, bw, sram, tdp, year,'),
    ("kinds:tpu", 'filter "kinds:tpu": no field "kinds" (did you mean "kind"?) (fields: kind, vendor, form,'),
    ("mem>lots", 'filter "mem>lots": "lots" is not a number (e.g. mem>100)'),
])
def test_a_bad_filter_term_says_what_exists(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        AcceleratorQuery(text=text).run(load_inventory().accelerators)
    assert str(caught.value).startswith(message)


def test_ls_says_how_to_filter_when_nothing_matches(cli) -> None:
    r = cli("ls", "-q", "mem>100000")
    assert r.code == 0
    assert 'accelctl: no accelerator matches "mem>100000"; a filter takes words, figure comparisons' in r.err
