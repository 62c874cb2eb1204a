"""`show` prints each source's kind; `validate` warns about weakly sourced figures."""

from __future__ import annotations

from pathlib import Path


def test_show_prints_the_kind_beside_each_source(cli) -> None:
    out = cli("show", "H100").out
    sources = out.split("\nSources\n", 1)[1].split("\n\n", 1)[0].splitlines()
    kinds = ("(vendor)", "(cloud)", "(benchmark)", "(paper)", "(press)", "(other)")
    assert sources and all(line.rstrip().endswith(kinds) for line in sources)
    assert "(vendor)" in sources[0]


def test_show_json_sources_carry_kind(cli) -> None:
    data = cli("show", "v5p", "-o", "json").json()
    assert all(s["kind"] in ("vendor", "cloud", "benchmark", "paper", "press", "other") for s in data["sources"])
    assert {"sram_mb", "sram_bw_tbps", "status"} <= set(data)


def test_validate_warns_about_figures_without_first_party_source(cli, tmp_path: Path) -> None:
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("accelerators:\n"
                       "  - id: acme-x1\n    name: Acme X1\n    vendor: Acme\n    kind: gpu\n    memory_gb: 80\n"
                       "    sources:\n      - url: https://grokipedia.com/page/X1\n        covers: [memory_gb]\n")
    r = cli("validate", str(overlay))
    assert r.code == 0 and r.out.strip().endswith(": ok")
    warnings = [line for line in r.err.splitlines() if line.startswith("warning: ")]
    assert any(f"{overlay}:7:5: accelerators[0].sources: acme-x1: no vendor" in w for w in warnings)
    assert any("grokipedia.com is on the source blocklist" in w for w in warnings)
