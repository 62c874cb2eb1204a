"""The catalog stays citable: source kinds, no blocked domains, one set of units, the first-party share."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accelctl.core.inventory import load_inventory
from accelctl.core.models import PRIMARY_KINDS, SOURCE_KINDS, Accelerator
from accelctl.core.sourcing import (
    blocked_sources,
    first_party_share,
    is_blocked,
    load_blocklist,
    parse_blocklist,
    unbacked_figures,
    warnings_for,
)

BUNDLED = Path(__file__).resolve().parents[2] / "inventory.yaml"
FIRST_PARTY_TARGET = 0.70
# Data-centre parts that must show a first-party source for every figure they state.
DATACENTRE = ("nvidia-a100", "nvidia-h100-sxm", "nvidia-h200", "amd-mi300x", "google-tpu-v5p",
              "google-tpu-v5e", "aws-trainium2", "aws-inferentia2", "intel-gaudi2", "meta-mtia")


@pytest.fixture(scope="module")
def accelerators() -> tuple[Accelerator, ...]:
    return load_inventory(use_cache=False).accelerators


@pytest.fixture(scope="module")
def raw() -> list[dict]:
    return yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))["accelerators"]


def test_every_bundled_source_states_its_kind(raw: list[dict]) -> None:
    """`kind` defaults to `other` for overlays; the bundled file names it every time."""
    missing = [(a["id"], s["url"]) for a in raw for s in a.get("sources", []) if "kind" not in s]
    assert missing == []
    assert {s["kind"] for a in raw for s in a.get("sources", [])} <= set(SOURCE_KINDS)


def test_no_source_from_a_blocked_domain(accelerators: tuple[Accelerator, ...]) -> None:
    found = [(a.id, s.url) for a in accelerators for s in blocked_sources(a)]
    assert found == [], "cite the maker, a cloud, MLCommons or a paper instead"


def test_blocklist_names_the_known_offenders() -> None:
    blocked = load_blocklist()
    for domain in ("grokipedia.com", "aiwiki.ai", "awesomeagents.ai", "mullet.se", "store.sourcecode.com",
                   "networkoutlet.com", "hmc-tech.com", "topcpu.net", "sysrqmts.com", "fpsbench.com", "cputronic.com"):
        assert domain in blocked


@pytest.mark.parametrize("url, blocked", [
    ("https://grokipedia.com/page/Nvidia_H100", True),
    ("https://www.aiwiki.ai/wiki/x", True),
    ("https://sub.hmc-tech.com/gpu", True),
    ("https://www.nvidia.com/en-us/data-center/h100/", False),
    ("https://notgrokipedia.com/x", False),
])
def test_blocking_matches_domains_and_subdomains(url: str, blocked: bool) -> None:
    assert is_blocked(url, load_blocklist()) is blocked


def test_blocklist_parsing_ignores_comments_and_www() -> None:
    assert parse_blocklist("# AI pages\nwww.Example.com  # trailing\n\nfoo.org\n") == {"example.com", "foo.org"}


def test_first_party_share_meets_the_target(accelerators: tuple[Accelerator, ...]) -> None:
    share = first_party_share(accelerators)
    assert share.total > 400
    assert share.fraction >= FIRST_PARTY_TARGET, f"first-party share fell to {share}"


def test_share_counts_each_precision_apart() -> None:
    from accelctl.core.models import Source, Tflops

    acc = Accelerator(id="x1", name="X1", vendor="Acme", kind="gpu", memory_gb=80,
                      tflops=Tflops(bf16=100, fp8=200),
                      sources=(Source("https://acme.example.com/x1", ("memory_gb", "tflops.bf16"), "vendor"),
                               Source("https://press.example.com/x1", ("tflops.fp8",), "press")))
    share = first_party_share([acc])
    assert (share.backed, share.total) == (2, 3)
    assert unbacked_figures(acc) == ["tflops.fp8"]
    assert warnings_for(acc) == ["no vendor, cloud, benchmark or paper source covers tflops.fp8"]


@pytest.mark.parametrize("acc_id", DATACENTRE)
def test_datacentre_parts_cite_first_party_for_every_figure(accelerators, acc_id: str) -> None:
    acc = next(a for a in accelerators if a.id == acc_id)
    assert unbacked_figures(acc) == []
    assert any(s.kind in PRIMARY_KINDS for s in acc.sources)


# --- units and conventions ----------------------------------------------------------------

def test_off_chip_bandwidth_is_never_sram(accelerators: tuple[Accelerator, ...]) -> None:
    """SRAM lives in sram_mb / sram_bw_tbps: off-chip bandwidth stays within what HBM can do."""
    for acc in accelerators:
        assert acc.mem_bw_tbps is None or acc.mem_bw_tbps <= 30, acc.id
        assert (acc.memory_type or "").upper() != "SRAM", acc.id
    wse = next(a for a in accelerators if a.id == "cerebras-wse-3")
    assert wse.mem_bw_tbps is None and wse.sram_mb == 44000 and wse.sram_bw_tbps == 21000


def test_memory_is_in_decimal_gigabytes(accelerators: tuple[Accelerator, ...]) -> None:
    """Google and AWS state GiB: the catalog converts (x 1.073741824) and says so in notes."""
    by_id = {a.id: a for a in accelerators}
    assert by_id["google-tpu-v5p"].memory_gb == pytest.approx(95 * 1.073741824, abs=0.05)
    assert by_id["aws-trainium2"].memory_gb == pytest.approx(96 * 1.073741824, abs=0.05)
    for acc in accelerators:
        if acc.memory_gb is not None and acc.memory_gb != int(acc.memory_gb) and "GiB" not in (acc.notes or ""):
            assert acc.memory_gb < 1 or acc.vendor not in ("Google", "AWS"), acc.id


def test_figures_are_per_device_and_in_range(accelerators: tuple[Accelerator, ...]) -> None:
    for acc in accelerators:
        assert acc.form != "superchip" or not acc.stored_figures, f"{acc.id}: per-device figures only"
        assert acc.tdp_w is None or 1 <= acc.tdp_w <= 2000, acc.id  # rated power of one device, not a rack
        assert acc.memory_gb is None or acc.memory_gb <= 1000, acc.id
        for p in ("bf16", "fp8", "fp4"):
            value = acc.figure(p)
            assert value is None or value <= 60000, (acc.id, p)  # dense TFLOPS of one device


def test_unreleased_chips_have_a_status_not_a_year(accelerators: tuple[Accelerator, ...]) -> None:
    by_id = {a.id: a for a in accelerators}
    for acc_id in ("nvidia-rubin", "nvidia-rubin-cpx", "apple-baltra", "amd-mi450"):
        assert by_id[acc_id].status in ("announced", "rumoured") and by_id[acc_id].year is None
    assert all(a.year is None for a in accelerators if a.status)


def test_blackwell_ultra_dense_fp4_is_as_stated(accelerators: tuple[Accelerator, ...]) -> None:
    """Dense figures as the vendor states them: NVFP4 is 15 PF dense, not half of 20 PF sparse."""
    gb300 = next(a for a in accelerators if a.id == "nvidia-gb300")
    assert gb300.tflops.fp4 == 15000 and gb300.tflops.fp8 == 5000
    assert "B300" not in gb300.aliases  # HGX B300 is its own product


def test_the_2026_chips_are_there(accelerators: tuple[Accelerator, ...]) -> None:
    by_id = {a.id: a for a in accelerators}
    for acc_id in ("nvidia-hgx-b300", "nvidia-rtx-pro-6000-blackwell", "nvidia-h20", "aws-trainium3",
                   "microsoft-maia-200", "huawei-ascend-950", "sambanova-sn40l", "d-matrix-corsair",
                   "qualcomm-cloud-ai-100-ultra", "tenstorrent-blackhole"):
        acc = by_id[acc_id]
        assert acc.aliases and acc.sources, acc_id
    assert by_id["aws-trainium3"].kubernetes and by_id["aws-trainium3"].kubernetes.resource == "aws.amazon.com/neuron"
    assert by_id["nvidia-hgx-b300"].kubernetes and "B300" in by_id["nvidia-hgx-b300"].aliases


def test_a_status_chip_cannot_have_a_year() -> None:
    from accelctl.core.models import FieldError

    with pytest.raises(FieldError, match="has no year yet"):
        Accelerator(id="x2", name="X2", vendor="Acme", kind="gpu", status="announced", year=2027)
