"""`accelerator: auto` with `model:`: placement picks the cheapest pool the fit planner says holds
the model, and says why every other pool was not chosen; prices and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobspec import load_jobspec
from accelctl.core.placement import NoPoolFits, place
from accelctl.core.problems import ProblemsFound

POOLS = """\
pools:
- {name: h100-own, backend: ray, address: 'http://h100:8265', accelerator: H100, count: 8, price_per_chip_hour: 2.0}
- {name: h200-cloud, backend: ray, address: 'http://h200:8265', accelerator: H200, count: 8}
- {name: mi300x-lab, backend: ray, address: 'http://mi:8265', accelerator: MI300X, count: 8}
- {name: l4-box, backend: ray, address: 'http://l4:8265', accelerator: L4, count: 1}
- {name: cpus, backend: ray, address: 'http://cpu:8265', accelerator: cpu}
"""


@pytest.fixture
def inv(tmp_path: Path):
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(POOLS)
    return load_inventory(overlay, use_cache=False)


def spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_auto_picks_the_cheapest_pool_that_fits_and_says_why_not_the_others(tmp_path: Path, inv) -> None:
    path = spec(tmp_path, "name: serve\nkind: inference\naccelerator: auto\nmodel: llama3-70b\ncommand: serve\n")
    placement = place(load_jobspec(path, inventory=inv), inv)
    # Llama 3.1 70B, bf16, context 8,192, batch 1: 141 GB of weights. H100 (80 GB): 4 chips x $2.00 (the
    # pool's own price) = $8.00/h. H200 (141 GB): 2 chips x $10.4365 (cheapest listed, GCP) = $20.87/h.
    assert (placement.pool.name, placement.accelerator, placement.count, placement.nodes) == (
        "h100-own", "nvidia-h100-sxm", 4, 1)
    why = dict(placement.rejected)
    assert why["h200-cloud"] == "fits on 2 chip(s) at $20.87/h, dearer than h100-own at $8.00/h"
    assert why["mi300x-lab"] == ("fits on 1 chip(s), but amd-mi300x has no listed price "
                                 "(set the pool's price_per_chip_hour)")
    assert why["l4-box"].startswith("llama-3.1-70b does not fit: needs ")
    assert why["cpus"] == "has no accelerators; llama-3.1-70b needs some"
    assert why["local"].startswith("has no accelerators")
    assert why["k8s-gpu"].startswith("example pool")


def test_auto_on_a_named_pool_and_when_nothing_fits(tmp_path: Path, inv) -> None:
    path = spec(tmp_path, "name: serve\naccelerator: auto\nmodel: llama-3.1-405b\ncommand: serve\npool: l4-box\n")
    with pytest.raises(NoPoolFits, match="l4-box: llama-3.1-405b does not fit"):
        place(load_jobspec(path, inventory=inv), inv)
    small = spec(tmp_path, "name: serve\naccelerator: auto\nmodel: phi-3-mini\ncommand: serve\n")
    assert place(load_jobspec(small, inventory=inv), inv, "l4-box").pool.name == "l4-box"


def test_auto_problems_are_located(tmp_path: Path, inv) -> None:
    path = spec(tmp_path, "name: serve\naccelerator: auto\ncommand: serve\n")
    with pytest.raises(ProblemsFound) as exc:
        load_jobspec(path, inventory=inv)
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:2:14: accelerator: `accelerator: auto` needs `model:` (a catalog model) to size the job"]
    path = spec(tmp_path, "name: serve\naccelerator: auto\nmodel: lama-3.1-70b\ncommand: serve\n")
    with pytest.raises(ProblemsFound) as exc:
        load_jobspec(path, inventory=inv)
    [problem] = [str(p) for p in exc.value.problems]
    assert problem.startswith(f'{path}:3:8: model: unknown model "lama-3.1-70b" (did you mean "llama-3.1-70b"?)')


def test_prices_are_validated_and_resolved(tmp_path: Path) -> None:
    inv = load_inventory(use_cache=False)
    assert inv.prices and {p.provider for p in inv.prices} >= {"aws", "azure", "google", "runpod", "lambda"}
    assert all(p.source.startswith("https://") and p.read for p in inv.prices)
    assert inv.prices_for("nvidia-h100-sxm")[0].usd_per_chip_hour == 2.69
    bad = tmp_path / "bad.yaml"
    bad.write_text("prices:\n- {id: x, provider: p, accelerator: H10, region: r, instance_type: i,"
                   " usd_per_chip_hour: -1, source: 'ftp://x', read: 'yesterday'}\n"
                   "pools:\n- {name: p1, backend: ray, accelerator: H100, price_per_chip_hour: 0}\n")
    with pytest.raises(ProblemsFound) as exc:
        load_inventory(bad, use_cache=False)
    text = "\n".join(str(p) for p in exc.value.problems)
    assert f"{bad}:2:" in text and "usd_per_chip_hour: must be at least" in text
    assert '"ftp://x" is not an http(s) URL' in text and '"yesterday" is not a date' in text
    assert f"{bad}:4:" in text and "price_per_chip_hour: must be above 0" in text
