"""The bundled inventory, overlays merged over it, and problems pinned to line:column."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelctl.core.inventory import check_inventory_files, load_inventory
from accelctl.core.problems import ProblemsFound
from accelctl.errors import NotFound

REQUIRED = [
    "nvidia-a100", "nvidia-h100-sxm", "nvidia-h100-pcie", "nvidia-h200", "nvidia-b200", "nvidia-gb200",
    "nvidia-gb300", "nvidia-l4", "nvidia-l40s", "nvidia-rtx-4090", "nvidia-rtx-5090", "nvidia-dgx-spark",
    "amd-mi250x", "amd-mi300x", "amd-mi325x", "amd-mi355x", "google-tpu-v4", "google-tpu-v5e", "google-tpu-v5p",
    "google-tpu-v6e-trillium", "google-tpu-v7-ironwood", "google-coral-edge-tpu", "aws-trainium",
    "aws-trainium2", "aws-inferentia2", "intel-gaudi2", "intel-gaudi3", "intel-arc-b580", "microsoft-maia-100",
    "meta-mtia", "cerebras-wse-3", "groq-lpu", "qualcomm-cloud-ai-100", "apple-ane", "huawei-ascend-910c",
    "moore-threads-mtt-s4000", "metax-c500", "hygon-dcu", "mythic-m1076", "ibm-hermes-analog", "ibm-northpole",
]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ProblemsFound) as exc:
        load_inventory(path, use_cache=False)
    return [str(p) for p in exc.value.problems]


def test_bundled_inventory_is_complete() -> None:
    inv = load_inventory(use_cache=False)
    ids = {a.id for a in inv.accelerators}
    assert len(inv.accelerators) >= 45
    assert len({a.vendor for a in inv.accelerators}) >= 12
    assert not set(REQUIRED) - ids
    assert len(inv.reading) == 117
    assert {p.name for p in inv.pools} >= {"local", "ray-gpu", "gke-tpu-v5e", "eks-trn2", "k8s-gpu", "ssh-lab"}
    assert all(p.example for p in inv.pools if p.name != "local")


def test_every_figure_has_a_source() -> None:
    inv = load_inventory(use_cache=False)
    for acc in inv.accelerators:
        for figure in ("memory_gb", "mem_bw_tbps", "tdp_w", "tflops.bf16", "tflops.fp8", "tflops.int8"):
            if acc.figure(figure) is not None:
                assert acc.sources_for(figure), (acc.id, figure)


@pytest.mark.parametrize("alias, expected", [
    ("H100", "nvidia-h100-sxm"), ("v5e", "google-tpu-v5e"), ("tpu-v5-lite-podslice", "google-tpu-v5e"),
    ("trn2", "aws-trainium2"), ("mi300x", "amd-mi300x"), ("NVIDIA-H100-SXM", "nvidia-h100-sxm"),
])
def test_aliases_resolve(alias: str, expected: str) -> None:
    assert load_inventory().accelerator(alias).id == expected


def test_unknown_accelerator_suggests() -> None:
    with pytest.raises(NotFound, match=r'unknown accelerator "nvidia-h10" \(did you mean'):
        load_inventory().accelerator("nvidia-h10")


def test_overlay_overrides_fields_and_adds_entries(tmp_path: Path) -> None:
    overlay = write(tmp_path / "mine.yaml", """\
        accelerators:
          - id: nvidia-h100-sxm
            notes: our fleet's H100s
          - id: acme-x1
            name: Acme X1
            vendor: Acme
            kind: npu
            memory_gb: 16
            sources: [{url: "https://acme.example.com/x1", covers: [memory_gb]}]
        pools:
          - name: my-lab
            backend: ssh
            hosts: [box1]
            accelerator: x1-alias-missing
    """)
    assert problems_of(overlay) == [
        f'{overlay}:14:18: pools[0].accelerator: unknown accelerator "x1-alias-missing"']
    overlay.write_text(overlay.read_text().replace("x1-alias-missing", "acme-x1"))
    inv = load_inventory(overlay, use_cache=False)
    h100 = inv.accelerator("H100")
    assert h100.notes == "our fleet's H100s" and h100.memory_gb == 80  # other fields kept
    assert inv.accelerator("acme-x1").vendor == "Acme"
    assert inv.pool("my-lab").hosts == ("box1",)
    assert inv.files[-1] == str(overlay)


def test_problems_carry_exact_positions(tmp_path: Path) -> None:
    overlay = write(tmp_path / "bad.yaml", """\
        accelerators:
          - id: acme-x1
            name: Acme X1
            vendor: Acme
            kind: gpx
            memroy_gb: 16
            tflops: {bf16: -3}
          - id: acme-x1
            name: again
        reading:
          - url: https://example.com/a
            accelerators: [acme-x2]
        pools:
          - name: p
            backend: ssh
            accelerator: cpu
            hosts: [h]
            port: 70000
        """)
    found = problems_of(overlay)
    assert f"{overlay}:5:11: accelerators[0].kind: Input should be 'gpu', 'tpu', 'trainium', 'inferentia', " \
           f"'npu', 'lpu', 'wafer-scale', 'analog', 'asic' or 'probabilistic' (got \"gpx\")" in found
    assert f'{overlay}:6:5: accelerators[0].memroy_gb: unknown field (did you mean "memory_gb"?)' in found
    assert f'{overlay}:8:9: accelerators[1].id: duplicate id "acme-x1" (first at line 2); remove or rename one' \
        in found
    assert f'{overlay}:12:20: reading[0].accelerators[0]: unknown accelerator "acme-x2" (did you mean "acme-x1"?)' \
        in found
    assert f"{overlay}:7:20: accelerators[0].tflops.bf16: must be at least 0 (got -3)" in found
    assert f"{overlay}:18:11: pools[0].port: must be between 1 and 65535 (got 70000)" in found


def test_figure_without_source_is_refused(tmp_path: Path) -> None:
    overlay = write(tmp_path / "o.yaml", """\
        accelerators:
          - id: acme-x1
            name: Acme X1
            vendor: Acme
            kind: npu
            memory_gb: 16
            tflops: {bf16: 100}
            sources: [{url: "https://acme.example.com/x1", covers: [memory_gb]}]
        """)
    assert problems_of(overlay) == [
        f"{overlay}:8:14: accelerators[0].sources: no source covers tflops.bf16: add its URL with `covers: [...]`"]


def test_wrong_top_level_and_sections(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path / "a.yaml", "- just a list\n")) == [
        f"{tmp_path / 'a.yaml'}:1:1: expected a mapping with accelerators, reading and pools"]
    assert problems_of(write(tmp_path / "b.yaml", "pool:\n  - name: x\n")) == [
        f"{tmp_path / 'b.yaml'}:1:1: pool: unknown section (did you mean \"pools\"?); "
        "expected one of: accelerators, reading, pools, models, prices"]


def test_alias_clash(tmp_path: Path) -> None:
    overlay = write(tmp_path / "o.yaml", """\
        accelerators:
          - id: acme-x1
            name: Acme X1
            vendor: Acme
            kind: npu
            aliases: [x1, H100]
        """)
    assert problems_of(overlay) == [
        f'{overlay}:6:19: accelerators[0].aliases[1]: "H100" already names nvidia-h100-sxm; aliases must be unique']


def test_empty_overlay_is_fine(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path / "empty.yaml", "# nothing yet\n"), use_cache=False)
    assert len(inv.accelerators) >= 45


def test_check_inventory_files_reports_each_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", "pools: []\n")
    bad = write(tmp_path / "bad.yaml", "pools: [{name: x, backend: ray, accelerator: cpu, address: nope}]\n")
    results = check_inventory_files([good, bad])
    assert results[str(good)] == []
    assert [str(p) for p in results[str(bad)]] == [
        f'{bad}:1:60: pools[0].address: "nope" is not a Ray address: use http://HOST:8265']


def test_cache_hit_skips_parsing_and_pydantic(isolated_dirs: Path) -> None:
    """A warm `ls` loads neither the YAML parser nor pydantic: that is what keeps it fast."""
    probe = ("import sys; from accelctl.core.inventory import load_inventory; inv = load_inventory(); "
             "print(len(inv.accelerators), 'pydantic' in sys.modules, 'yaml' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    count = first.stdout.split()[0]
    assert first.stdout.split() == [count, "True", "True"]
    assert second.stdout.split() == [count, "False", "False"]


def test_changed_overlay_invalidates_cache(tmp_path: Path) -> None:
    overlay = write(tmp_path / "o.yaml", "accelerators: [{id: nvidia-h100-sxm, notes: one}]\n")
    assert load_inventory(overlay).accelerator("H100").notes == "one"
    overlay.write_text("accelerators: [{id: nvidia-h100-sxm, notes: two}]\n")
    assert load_inventory(overlay).accelerator("H100").notes == "two"
    overlay.write_text("accelerators: [{id: nvidia-h100-sxm, nots: two}]\n")
    with pytest.raises(ProblemsFound):
        load_inventory(overlay)
