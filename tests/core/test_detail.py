"""The detail rows and compare cells both front ends draw."""

from __future__ import annotations

import subprocess
import sys

from accelctl.core.detail import compare_lines, detail_rows, source_lines, unit
from accelctl.core.inventory import load_inventory
from accelctl.core.query import compare


def test_units_follow_one_rule() -> None:
    assert unit("tflops.int8") == "TOPS" and unit("int8") == "TOPS"
    assert unit("tflops.bf16") == "TFLOPS" and unit("fp4") == "TFLOPS"
    assert (unit("memory_gb"), unit("mem_bw_tbps"), unit("sram_mb"), unit("tdp_w")) == ("GB", "TB/s", "MB", "W")


def test_detail_rows_carry_values_units_and_citations() -> None:
    acc = load_inventory().accelerator("H100")
    rows = {r.label: r for r in detail_rows(acc)}
    assert rows["Memory"].value == "80 GB HBM3" and rows["Memory"].cite.startswith("[1]")
    assert rows["INT8"].value.endswith("TOPS") and rows["BF16"].value.endswith("TFLOPS")
    long = {r.label for r in detail_rows(acc, long_labels=True)}
    assert {"Memory bandwidth", "BF16 (dense)"} <= long


def test_sram_and_status_rows() -> None:
    inv = load_inventory()
    wse = {r.label: r.value for r in detail_rows(inv.accelerator("WSE-3"))}
    assert wse["On-chip SRAM"] == "44000 MB, 21000 TB/s" and wse["Bandwidth"] == "-"
    rubin = {r.label: r.value for r in detail_rows(inv.accelerator("Rubin"))}
    assert rubin["Status"].startswith("announced") and rubin["Year"] == "-"


def test_source_lines_number_like_the_citations_and_show_kinds() -> None:
    acc = load_inventory().accelerator("H100")
    lines = source_lines(acc)
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert [line.url for line in lines] == acc.source_urls
    assert lines[0].kind == "vendor" and lines[0].text == f"[1] {lines[0].url}  (vendor)"


def test_compare_lines_label_units_and_ratios() -> None:
    inv = load_inventory()
    lines = {line.label: line for line in compare_lines(compare([inv.accelerator("H100"), inv.accelerator("MI300X")]))}
    memory = lines["Memory (GB)"]
    assert memory.cells[0].text == "80" and memory.cells[1].text == "192 (2.40x)" and memory.cells[1].best
    assert "INT8 (TOPS)" in lines and "BF16 (TFLOPS)" in lines and "Year" in lines


def test_detail_is_pure() -> None:
    code = ("import accelctl.core.detail, accelctl.core.sourcing, json, sys; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not {"rich", "textual", "click"} & set(eval(out))
