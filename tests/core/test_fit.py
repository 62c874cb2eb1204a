"""The fit planner's arithmetic, checked against figures worked out by hand."""

from __future__ import annotations

import dataclasses

import pytest

from accelctl import paths
from accelctl.core import fit
from accelctl.core.inventory import build_inventory, load_inventory
from accelctl.core.models import Model
from accelctl.core.problems import ProblemsFound
from accelctl.core.yaml_source import load_yaml_bytes
from accelctl.errors import InvalidInput


@pytest.fixture(scope="module")
def inv():
    return load_inventory(use_cache=False)


def test_catalog_has_the_issue_models_with_sources(inv) -> None:
    wanted = ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mistral-7b",
              "mixtral-8x7b", "mixtral-8x22b", "deepseek-v3", "qwen2.5-72b", "qwen3-30b-a3b", "gemma-2-27b",
              "gpt-oss-20b", "gpt-oss-120b", "phi-3-mini"]
    ids = {m.id for m in inv.models}
    assert set(wanted) <= ids and len(ids) >= 16
    for m in inv.models:
        assert m.sources and all(u.startswith("https://") for u in m.sources)
        assert m.layers and m.hidden_size and m.max_context and m.vocab_size and m.attention


def test_aliases_resolve_and_unknown_suggests(inv) -> None:
    assert inv.model("llama3-70b").id == inv.model("Meta-Llama-3.1-70B").id == "llama-3.1-70b"
    with pytest.raises(InvalidInput, match='did you mean "mixtral-8x7b"'):
        inv.model("mixtral-8x7")


def _dense_count(m: Model, tied: bool = False) -> float:
    """Llama-style parameter count from the architecture: embeddings + q/k/v/o + SwiGLU MLP + norms."""
    assert m.hidden_size and m.heads and m.kv_heads and m.head_dim and m.intermediate_size and m.layers
    h = m.hidden_size
    attn = 2 * h * m.heads * m.head_dim + 2 * h * m.kv_heads * m.head_dim
    per_layer = attn + 3 * h * m.intermediate_size + 2 * h
    return (m.vocab_size or 0) * h * (1 if tied else 2) + m.layers * per_layer + h


@pytest.mark.parametrize("model_id", ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b",
                                      "llama-3.1-405b", "mistral-7b", "phi-3-mini"])
def test_stated_parameters_match_the_architecture(inv, model_id: str) -> None:
    """The catalog's layer numbers and its parameter count agree (a typo in either shows here)."""
    m = inv.model(model_id)
    assert _dense_count(m) == pytest.approx(m.params_b * 1e9, rel=1e-3)


def test_llama2_70b_kv_and_weights_by_hand(inv) -> None:
    m = inv.model("llama-2-70b")
    # 2 (K, V) x 80 layers x 8 KV heads x 128 head dim x 2 bytes = 327,680
    assert fit.kv_bytes_per_token(m, "bf16") == 327_680
    # 68.977e9 parameters x 2 bytes = 137.95 GB ("about 138 GB")
    mem = fit.memory(fit.FitRequest(m, context=4096), 1)
    assert mem.weights == pytest.approx(137.95e9, rel=1e-3)
    assert mem.kv_cache == 327_680 * 4096


def test_llama31_70b_weights_141_gb_and_int4_quarter(inv) -> None:
    m = inv.model("llama-3.1-70b")
    assert fit.memory(fit.FitRequest(m), 1).weights == pytest.approx(141.1e9, rel=1e-3)
    assert fit.memory(fit.FitRequest(m, precision="int4"), 1).weights == pytest.approx(35.28e9, rel=1e-3)
    # int4 weights keep a bf16 KV cache unless told otherwise; fp8 KV halves it
    assert fit.FitRequest(m, precision="int4").kv_dtype == "bf16"
    assert fit.kv_bytes_per_token(m, "fp8") == 163_840


def test_gqa_kv_smaller_than_mha_and_mla_smaller_still(inv) -> None:
    # Llama 2 7B, MHA: 2 x 32 x 32 x 128 x 2 = 524,288 bytes per token
    assert fit.kv_bytes_per_token(inv.model("llama-2-7b"), "bf16") == 524_288
    # Llama 3.1 8B, GQA with 8 KV heads: a quarter of that
    assert fit.kv_bytes_per_token(inv.model("llama-3.1-8b"), "bf16") == 131_072
    # DeepSeek-V3, MLA: 576 latent values x 61 layers x 2 bytes = 70,272, though it has 128 heads of 128
    ds = inv.model("deepseek-v3")
    assert fit.kv_bytes_per_token(ds, "bf16") == 576 * 61 * 2 == 70_272
    assert fit.kv_bytes_per_token(ds, "bf16") < 2 * 61 * 128 * 128 * 2 / 50


def test_sliding_window_caps_the_cache(inv) -> None:
    mistral = inv.model("mistral-7b")  # every layer windowed at 4096
    assert fit.kv_cache_bytes(mistral, "bf16", 32768, 1) == fit.kv_cache_bytes(mistral, "bf16", 4096, 1)
    gemma = inv.model("gemma-2-27b")  # 23 of 46 layers windowed at 4096; 2 x 16 x 128 x 2 = 8,192 B per layer
    assert fit.kv_cache_bytes(gemma, "bf16", 8192, 2) == 8192 * (23 * 8192 + 23 * 4096) * 2
    oss = inv.model("gpt-oss-120b")  # 18 of 36 layers at a 128-token window; 2 x 8 x 64 x 2 = 2,048 B per layer
    assert fit.kv_cache_bytes(oss, "bf16", 131072, 1) == 2048 * (18 * 131072 + 18 * 128)


def test_moe_decode_reads_active_weights_at_batch_1(inv) -> None:
    m = inv.model("mixtral-8x7b")
    assert fit.decode_weight_bytes(m, "bf16", 1) == pytest.approx(12.880e9 * 2, rel=1e-6)
    # a batch touches more experts, never more than all of them
    assert fit.decode_weight_bytes(m, "bf16", 1) < fit.decode_weight_bytes(m, "bf16", 8) < m.params_b * 2e9
    dense = inv.model("llama-3.1-70b")
    assert fit.decode_weight_bytes(dense, "bf16", 1) == dense.params_b * 2e9


def test_decode_roofline_by_hand(inv) -> None:
    """Llama 3.1 8B bf16 on one H100 SXM (3.35 TB/s), context 1024, batch 1:
    (8.030e9 x 2 + 131,072 x 1024) bytes / 3.35e12 B/s = 4.835 ms a token -> 206.8 tokens/s."""
    h100 = inv.accelerator("H100")
    rates = fit.speeds(fit.FitRequest(inv.model("llama-3.1-8b"), context=1024), h100, 1)
    expected = 3.35e12 / (8.030e9 * 2 + 131_072 * 1024)
    assert rates["decode_tokens_s_per_seq"] == pytest.approx(expected, rel=1e-3)
    assert rates["decode_tokens_s_per_seq"] == pytest.approx(206.8, abs=0.5)
    # prefill: 989.5 TFLOPS / (2 x 8.03e9 + 2 x 32 x 1024 x 32 x 128) FLOPs a token
    assert rates["prefill_tokens_s"] == pytest.approx(989.5e12 / (2 * 8.030e9 + 2 * 32 * 1024 * 32 * 128), rel=1e-3)


def test_moe_decodes_faster_than_a_dense_model_of_its_size(inv) -> None:
    h100 = inv.accelerator("H100")
    moe = fit.speeds(fit.FitRequest(inv.model("mixtral-8x7b"), context=1024), h100, 2)
    assert moe["decode_tokens_s_per_seq"] and moe["decode_tokens_s_per_seq"] > 3.3e12 * 2 / (46.7e9 * 2)


def test_training_memory_16_bytes_per_parameter_and_speed(inv) -> None:
    m = inv.model("llama-3.1-8b")
    mem = fit.memory(fit.FitRequest(m, mode="training", context=4096), 8)
    assert mem.weights + mem.gradients + mem.optimizer == pytest.approx(16 * 8.030e9, rel=1e-3)
    assert mem.kv_cache == 0
    assert mem.activations == 34 * 4096 * 32 * 4096  # bytes/token/layer x hidden x layers x tokens
    h100 = inv.accelerator("H100")
    rates = fit.speeds(fit.FitRequest(m, mode="training", mfu=0.4), h100, 8)
    assert rates["train_tokens_s"] == pytest.approx(8 * 989.5e12 * 0.4 / (6 * 8.030e9), rel=1e-3)


def test_lora_trains_a_sliver(inv) -> None:
    m = inv.model("llama-3.1-8b")
    # rank 16 on q (4096->4096), k, v (4096->1024) and o: 16 x (8192 + 2 x 5120 + 8192) x 32 layers
    assert fit.lora_params(m) == 16 * (8192 + 2 * 5120 + 8192) * 32 == 13_631_488
    lora = fit.memory(fit.FitRequest(m, mode="lora", precision="int4", context=2048), 1)
    full = fit.memory(fit.FitRequest(m, mode="training", context=2048), 1)
    assert lora.optimizer == 12 * 13_631_488 and lora.total < full.total / 3


def test_chips_needed_tensor_then_pipeline(inv) -> None:
    h100 = inv.accelerator("H100")  # 80 GB, 72 usable
    small = fit.smallest_plan(fit.FitRequest(inv.model("llama-3.1-8b"), context=8192), h100)
    assert not isinstance(small, str) and small[:2] == (1, 1)
    big = fit.smallest_plan(fit.FitRequest(inv.model("llama-3.1-70b"), context=32768, batch=8), h100)
    assert not isinstance(big, str) and big[:2] == (4, 1)  # 227 GB + overhead: 2 chips hold 144, 4 hold 288
    huge = fit.smallest_plan(fit.FitRequest(inv.model("llama-3.1-405b"), context=8192), h100)
    assert not isinstance(huge, str) and huge[:2] == (16, 2)  # 812 GB of weights: more than 8 x 72 GB
    assert fit.plan_sizes(8, 2) == [(1, 1), (2, 1), (4, 1), (8, 1), (16, 2)]


def test_does_not_fit_says_why(inv) -> None:
    pool = dataclasses.replace(inv.pool("local"), count=1, nodes=1)
    row = fit.fit_row(fit.FitRequest(inv.model("llama-3.1-405b")), inv.accelerator("H100"), pool)
    assert not row.fits and row.chips is None and "needs" in row.why and "GB usable" in row.why


@pytest.mark.parametrize(("change", "message"), [
    ({"context": 0}, "at least 1 token"),
    ({"context": 200_000}, "above llama-3.1-70b's maximum of 131072"),
    ({"precision": "fp4"}, 'unknown precision "fp4"'),
    ({"batch": 0}, "batch must be at least 1"),
    ({"mode": "training", "precision": "int4"}, "16-bit weights"),
    ({"mfu": 1.5}, "mfu must be"),
])
def test_bad_requests_are_invalid_input(inv, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        fit.validate(fit.FitRequest(inv.model("llama-3.1-70b"), **change))


def _overlay(text: str):
    bundled = load_yaml_bytes(paths.bundled_inventory().read_bytes(), "inventory.yaml")
    return build_inventory([bundled, load_yaml_bytes(text.encode(), "overlay.yaml")])


def test_model_entries_are_validated_with_locations() -> None:
    head = "models:\n- id: my-model\n  name: Mine\n  params_b: 7\n  sources: [https://example.com]\n"
    with pytest.raises(ProblemsFound) as e:
        _overlay(head + "  heads: 32\n  kv_heads: 5\n  attention: gqa\n  active_params_b: 9\n")
    text = str(e.value)
    assert "overlay.yaml:7:13: models[0].kv_heads: 32 heads do not split evenly over 5 KV heads" in text
    assert "overlay.yaml:9:20: models[0].active_params_b: more than params_b (7)" in text
    assert "an MoE states experts, experts_active and active_params_b together" in text
    unknown = r'overlay.yaml:6:3: models\[0\].layerz: unknown field \(did you mean "layers"'
    with pytest.raises(ProblemsFound, match=unknown):
        _overlay(head + "  layerz: 3\n")
    with pytest.raises(ProblemsFound, match='"Llama_3" is not a valid id'):
        _overlay(head.replace("my-model", "Llama_3"))


def test_model_alias_clash_is_reported() -> None:
    with pytest.raises(ProblemsFound, match="already names llama-3.1-70b"):
        _overlay("models:\n- id: my-model\n  name: Mine\n  params_b: 7\n  sources: [https://example.com]\n"
                 "  aliases: [llama3-70b]\n")
    added = _overlay("models:\n- id: my-model\n  name: Mine\n  params_b: 7\n  sources: [https://example.com]\n")
    assert added.model("my-model").params_b == 7
