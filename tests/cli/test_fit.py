"""`accelctl fit` through the real entry point: JSON shape, the table, and one-line errors."""

from __future__ import annotations

import pytest

MEMORY_KEYS = {"weights", "kv_cache", "activations", "gradients", "optimizer", "overhead", "total"}
ROW_KEYS = {"accelerator", "pool", "fits", "why", "chips", "nodes", "kv_bytes_per_token", "memory",
            "prefill_tokens_s", "decode_tokens_s_per_seq", "decode_tokens_s", "train_tokens_s", "usd_per_hour",
            "usd_per_mtok", "price_source"}


def test_fit_json_shape_and_hand_checked_row(cli) -> None:
    r = cli("fit", "llama-3.1-70b", "--context", "32768", "--batch", "8", "--accelerator", "H100", "-o", "json")
    assert r.code == 0 and r.err == ""
    data = r.json()
    assert {k: data[k] for k in ("model", "mode", "precision", "kv_precision", "context", "batch")} == {
        "model": "llama-3.1-70b", "mode": "inference", "precision": "bf16", "kv_precision": "bf16",
        "context": 32768, "batch": 8}
    [row] = data["rows"]
    assert set(row) == ROW_KEYS and set(row["memory"]) == MEMORY_KEYS
    assert row["accelerator"] == "nvidia-h100-sxm" and row["pool"] is None and row["fits"] is True
    assert row["chips"] == 4 and row["nodes"] == 1
    assert row["kv_bytes_per_token"] == 327_680
    assert row["memory"]["weights"] == 141_108_000_000  # 70.554e9 parameters (catalog, 3 decimals) x 2 bytes
    assert row["memory"]["kv_cache"] == 327_680 * 32768 * 8
    assert row["memory"]["overhead"] == 4 * 2_000_000_000
    assert abs(row["memory"]["total"] - sum(v for k, v in row["memory"].items() if k != "total")) <= 6
    assert row["train_tokens_s"] is None
    # 4 chips x the cheapest listed H100 SXM price (RunPod Community, $2.69) = $10.76 an hour; per million
    # decode tokens: 10.76 / (decode tok/s x 3600 / 1e6)
    assert row["usd_per_hour"] == pytest.approx(4 * 2.69)
    assert row["usd_per_mtok"] == pytest.approx(10.76 / (row["decode_tokens_s"] * 3600 / 1e6), rel=1e-3)
    assert row["price_source"].startswith("cheapest listed: runpod")
    assert 0 < row["decode_tokens_s_per_seq"] < row["decode_tokens_s"] < row["prefill_tokens_s"]


def test_fit_every_accelerator_table(cli) -> None:
    r = cli("fit", "llama3-70b", "--context", "32768", "--batch", "8")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].startswith("Llama 3.1 70B: inference, bf16 weights")
    assert lines[1].split()[:4] == ["ACCELERATOR", "POOL", "FITS", "CHIPS"]
    assert "nvidia-h100-sxm" in r.out and "KV cache per token: 327680 bytes" in r.out
    assert "memory on " in r.out


def test_fit_training_yaml_and_pool(cli) -> None:
    import yaml

    r = cli("fit", "llama-3.1-70b", "--mode", "training", "--pool", "ssh-lab", "--accelerator", "H100", "-o", "yaml")
    assert r.code == 0, r.err
    data = yaml.safe_load(r.out)
    by_pool = {row["pool"]: row for row in data["rows"]}
    h100 = by_pool[None]
    assert h100["fits"] and h100["train_tokens_s"] > 0 and h100["memory"]["optimizer"] == 12 * 70_554_000_000
    assert h100["chips"] % 8 == 0 and h100["nodes"] == h100["chips"] // 8  # whole nodes once past one
    lab = by_pool["ssh-lab"]  # 2 x 2 RTX 4090 (24 GB) cannot hold 1.1 TB of weights and Adam states
    assert lab["fits"] is False and "pool ssh-lab (2 x 2)" in lab["why"] and lab["chips"] is None
    assert cli("fit", "llama-2-7b", "--pool", "local").err.startswith("accelctl: error: pool local has no accel")


def test_fit_list(cli) -> None:
    r = cli("fit", "--list", "-o", "json")
    assert r.code == 0 and len(r.json()) >= 16


@pytest.mark.parametrize(("args", "message"), [
    (("llama-3.1-7o",), 'unknown model "llama-3.1-7o" (did you mean'),
    (("llama-2-70b", "--context", "0"), "context must be at least 1 token"),
    (("llama-2-70b", "--context", "8192"), "above llama-2-70b's maximum of 4096 tokens"),
    (("llama-2-70b", "--precision", "fp4"), "Invalid value for '--precision'"),
    (("llama-2-70b", "--accelerator", "H10O"), 'unknown accelerator "H10O" (did you mean'),
    (("llama-2-70b", "--accelerator", "nvidia-h800"), "nvidia-h800 has no bf16 figure in the catalog"),
    (("llama-2-70b", "--pool", "nope"), 'unknown pool "nope"'),
    ((), "name a model"),
    (("llama-2-70b", "--efficiency", "fast"), 'efficiency must be a number in (0, 1] or "measured"'),
    (("llama-2-70b", "--efficiency", "1.5"), "efficiency must be in (0, 1] (got 1.5)"),
])
def test_fit_bad_input_one_line_exit_2(cli, args: tuple[str, ...], message: str) -> None:
    r = cli("fit", *args)
    assert r.code == 2 and r.out == ""
    assert message in r.err
    if "Invalid value" not in message:  # click's own usage errors print a usage line first
        assert r.err.count("\n") == 1


def test_fit_measured_efficiency_scales_the_rooflines(cli) -> None:
    args = ("fit", "llama-2-70b", "--precision", "fp8", "--accelerator", "H200", "-o", "json")
    [roof] = cli(*args).json()["rows"]
    [scaled] = cli(*args, "--efficiency", "measured").json()["rows"]
    assert scaled["decode_tokens_s"] == pytest.approx(0.18 * roof["decode_tokens_s"], rel=1e-3)
    assert scaled["usd_per_mtok"] == pytest.approx(roof["usd_per_mtok"] / 0.18, rel=1e-2)


def test_submit_dry_run_auto_names_the_cheapest_pool(cli, tmp_path, monkeypatch) -> None:
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(
        "pools:\n"
        "- {name: h100-own, backend: ray, address: 'http://h100:8265', accelerator: H100, count: 8,"
        " price_per_chip_hour: 2.0}\n"
        "- {name: h200-cloud, backend: ray, address: 'http://h200:8265', accelerator: H200, count: 8}\n")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    job = tmp_path / "job.yaml"
    job.write_text("name: serve\nkind: inference\naccelerator: auto\nmodel: llama3-70b\ncommand: serve\n")
    r = cli("submit", str(job), "--dry-run", "-o", "json")
    assert r.code == 0, r.err
    plan = r.json()
    assert (plan["pool"], plan["accelerator"], plan["count"], plan["nodes"]) == ("h100-own", "nvidia-h100-sxm", 4, 1)
    assert plan["rejected_pools"]["h200-cloud"] == "fits on 2 chip(s) at $20.87/h, dearer than h100-own at $8.00/h"
