"""The README's "Checked against measurements" table: every row's accelctl estimate is recomputed
here from the catalog and the planner, so the table cannot drift from the code.

Each row is a published MLPerf Inference v4.1 (closed division) result for Llama 2 70B, read
from the submitters' own `mlperf_log_summary.txt` (tokens per second: output tokens of every
sequence served, aggregate over the system) and, for the setup, their configuration files.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from accelctl.core import fit
from accelctl.core.inventory import load_inventory

README = Path(__file__).resolve().parents[2] / "README.md"
V41 = "https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/"
LOG = "performance/run_1/mlperf_log_summary.txt"
NV_H100 = V41 + "NVIDIA/results/DGX-H100_H100-SXM-80GBx8_TRT/llama2-70b-99.9/{}/" + LOG
NV_H200 = V41 + "NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99/{}/" + LOG
AMD = V41 + "AMD/results/{}/{}/{}/" + LOG
# The context (KV length per sequence) every estimate assumes: the logs give the generated
# tokens per sample (tokens/s / samples/s = 290) but not the prompt lengths.
CONTEXT = 512


@dataclasses.dataclass(frozen=True)
class Measured:
    source: str
    accelerator: str
    scenario: str
    chips: int
    tp: int  # chips per model replica (tensor parallel); chips / tp replicas
    batch: int | None  # sequences per replica; None: not stated, the most that fits (fit.max_batch)
    tokens_s: float  # "Tokens per second" (Offline) or "Completed tokens per second" (Server)


ROWS = [
    # NVIDIA's configs/llama2-70b/{Offline,Server}/__init__.py: use_fp8, tensor_parallelism 2,
    # gpu_batch_size 896 (Offline) / 1024 (Server) on H100; TP 1, 806 / 896 on H200.
    Measured(NV_H100.format("Offline"), "nvidia-h100-sxm", "Offline", 8, 2, 896, 24524.9),
    Measured(NV_H100.format("Server"), "nvidia-h100-sxm", "Server", 8, 2, 1024, 21605.79),
    Measured(NV_H200.format("Offline"), "nvidia-h200", "Offline", 8, 1, 806, 31302.7),
    Measured(NV_H200.format("Server"), "nvidia-h200", "Server", 8, 1, 896, 29228.22),
    # AMD's code/llama2-70b-99/README.md: vLLM, weights, activations and KV cache in fp8 (Quark).
    # Parallelism and batch are not in the files read: one replica per chip, the batch that fits.
    Measured(AMD.format("8xMI300X_2xEPYC-9374F", "llama2-70b-99", "Offline"), "amd-mi300x", "Offline", 8, 1, None,
             23514.8),
    Measured(AMD.format("8xMI300X_2xEPYC-9374F", "llama2-70b-99", "Server"), "amd-mi300x", "Server", 8, 1, None,
             21028.23),
    Measured(AMD.format("8xMI300X_2xEPYC-TURIN", "llama2-70b-99", "Offline"), "amd-mi300x", "Offline", 8, 1, None,
             24109.8),
    Measured(AMD.format("1xMI300X_2xEPYC-9374F", "llama2-70b-99.9", "Offline"), "amd-mi300x", "Offline", 1, 1, None,
             3062.72),
]


def estimate(inv, row: Measured) -> tuple[int, float]:
    """(batch per replica, accelctl's aggregate decode tokens/s) for the row's setup."""
    acc = inv.accelerator(row.accelerator)
    request = fit.FitRequest(inv.model("llama-2-70b"), precision="fp8", kv_precision="fp8", context=CONTEXT)
    batch = row.batch or fit.max_batch(request, acc, row.tp)
    rates = fit.speeds(dataclasses.replace(request, batch=batch), acc, row.tp)
    assert rates["decode_tokens_s"] is not None
    return batch, rates["decode_tokens_s"] * row.chips // row.tp


@pytest.fixture(scope="module")
def inv():
    return load_inventory(use_cache=False)


def _readme_rows() -> dict[str, list[str]]:
    """README table rows of the section, keyed by their source URL."""
    text = README.read_text(encoding="utf-8")
    section = text.split("**Checked against measurements**", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        match = re.search(r"\]\((https://[^)]+)\)", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def test_at_least_eight_measured_results() -> None:
    assert len(ROWS) >= 8 and len({r.source for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.accelerator}-{r.chips}-{r.scenario}")
def test_readme_row_matches_the_planner(inv, row: Measured) -> None:
    cells = _readme_rows().get(row.source)
    assert cells is not None, f"README has no row for {row.source}"
    batch, est = estimate(inv, row)
    measured, estimated, ratio = (float(c.replace(",", "")) for c in cells[-3:])
    assert measured == pytest.approx(row.tokens_s, abs=0.01)
    assert estimated == pytest.approx(round(est), abs=1)
    assert ratio == pytest.approx(row.tokens_s / est, abs=0.005)
    assert f"batch {batch}" in cells[2] and f"{row.chips} x" in cells[2] and row.scenario in cells[2]


def test_rooflines_are_upper_bounds_and_the_measured_factor_holds(inv) -> None:
    ratios = sorted(row.tokens_s / estimate(inv, row)[1] for row in ROWS)
    assert all(0.1 < r < 1 for r in ratios)
    median = (ratios[3] + ratios[4]) / 2
    assert abs(fit.MEASURED_DECODE_EFFICIENCY - median) < 0.01
