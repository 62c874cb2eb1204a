"""Will it fit, and how fast: memory and roofline estimates for a model on an accelerator.

Pure arithmetic over catalog records (no I/O, no imports beyond the core), so that
`accelctl fit` answers as fast as `accelctl ls`. Every constant below is named and says
why it has its value; the README ("Will it fit?") writes the formulas out with references.

Speeds are rooflines, upper bounds: prefill runs at the precision's dense peak, decode at
the memory bandwidth, training at a stated model-FLOPs utilisation (MFU). Real systems
run below them; the README's measured-results table shows how far.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from accelctl.core import chips
from accelctl.core.models import Accelerator, Model, Price
from accelctl.core.pools import PoolBase
from accelctl.errors import InvalidInput

Mode = Literal["inference", "training", "lora"]
MODES: tuple[str, ...] = ("inference", "training", "lora")

# Bytes per stored value. int4 is weight-only (GPTQ/AWQ-style, and about MXFP4's 4.25 bits):
# its scales add a few percent that this ignores.
BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "fp8", "int8", "int4")
# The catalog peak the matrix math runs at for each weight precision. int4 weights are
# dequantized to 16-bit for the multiply (W4A16), so they run at the bf16 peak.
COMPUTE_PEAK = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "int8": "int8", "int4": "bf16"}

# Per-chip memory a serving or training framework takes besides the model: the CUDA/ROCm or
# runtime context, communication buffers (NCCL) and allocator slack, about 1-2 GB in
# practice; 2 GB keeps the estimate on the safe side.
FRAMEWORK_OVERHEAD_BYTES = 2e9
# The share of a chip's memory a plan may fill: vLLM's default gpu_memory_utilization is
# 0.9, leaving headroom for fragmentation and spikes.
USABLE_MEMORY_FRACTION = 0.9
# Chips per node where the catalog does not say (chips.max_chips_per_host knows TPU and
# Neuron hosts): 8 is the HGX / OAM baseboard of NVIDIA, AMD and Intel data-centre parts.
DEFAULT_CHIPS_PER_NODE = 8
# The most nodes a plan may span when no pool bounds it; beyond that we call it "does not fit".
MAX_NODES = 64

# Inference activations: the tokens one engine step holds at once (chunked prefill; vLLM's
# max_num_batched_tokens is in the low thousands), times one layer's live tensors per token:
# the residual, q/k/v, the attention output and the MLP's gate/up projections, about 20 x
# hidden values. Logits add vocab fp32 values per sequence. Rough, and small beside weights.
PREFILL_CHUNK_TOKENS = 2048
INFER_ACTIVATION_VALUES_PER_TOKEN = 20  # x hidden_size, at 2 bytes
# Training activations per token and layer, in bytes: 34 x hidden with 16-bit activations
# and no recomputation (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
# Transformer Models", eq. 1: sbh(34 + 5as/h); FlashAttention removes the 5as/h score term).
TRAIN_ACTIVATION_BYTES_PER_TOKEN_LAYER = 34  # x hidden_size
# Mixed-precision Adam (ZeRO paper, Rajbhandari et al. 2020, section 3.1): 16-bit weights (2)
# and gradients (2) plus fp32 master weights, momentum and variance (4 + 4 + 4) = 16 bytes
# per trained parameter.
GRADIENT_BYTES = 2.0
ADAM_STATE_BYTES = 12.0
# LoRA (Hu et al. 2021): rank-16 adapters on the four attention projections (q, k, v, o),
# a common default (PEFT examples); the base model stays frozen at --precision.
LORA_RANK = 16
# Training FLOPs per token: 6 x active parameters (forward 2N, backward 4N; Kaplan et al.
# 2020). LoRA skips the frozen weights' gradients: about 4N.
TRAIN_FLOPS_PER_PARAM = 6.0
LORA_FLOPS_PER_PARAM = 4.0
# Default model-FLOPs utilisation for training: Meta reports 38-43% BF16 MFU training Llama 3
# 405B on 8K-16K H100s (The Llama 3 Herd of Models, 2024, Table 4).
DEFAULT_MFU = 0.4
# Measured serving throughput over accelctl's roofline: the median of the eight MLPerf
# Inference v4.1 Llama 2 70B fp8 results (H100, H200, MI300X; Offline and Server) in the
# README's "Checked against measurements" table, whose ratios run from 0.14 to 0.27.
# `fit --efficiency measured` scales the inference rooflines by it.
MEASURED_DECODE_EFFICIENCY = 0.18


@dataclass(frozen=True)
class FitRequest:
    """What to fit: the model, how it is used, and at what precision, context and batch."""

    model: Model
    mode: Mode = "inference"
    precision: str = "bf16"
    kv_precision: str | None = None  # None: the weights' precision (int4 weights: bf16 cache)
    context: int | None = None  # None: min(model's maximum, 8192) for inference, 4096 for training
    batch: int = 1
    mfu: float = DEFAULT_MFU
    efficiency: float = 1.0  # inference speeds x this: 1 is the roofline, MEASURED_DECODE_EFFICIENCY real-world

    @property
    def kv_dtype(self) -> str:
        if self.kv_precision:
            return self.kv_precision
        return "bf16" if self.precision == "int4" else self.precision

    @property
    def tokens(self) -> int:
        """The context the plan is for."""
        if self.context is not None:
            return self.context
        limit = self.model.max_context or 8192
        return min(limit, 8192 if self.mode == "inference" else 4096)


@dataclass(frozen=True)
class Memory:
    """Bytes for the whole model (all chips together), by what holds them; overhead is per chip x chips."""

    weights: float = 0.0
    kv_cache: float = 0.0
    activations: float = 0.0
    gradients: float = 0.0
    optimizer: float = 0.0
    overhead: float = 0.0

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations + self.gradients + self.optimizer + self.overhead


@dataclass(frozen=True)
class FitRow:
    """One accelerator (or pool): whether the model fits, on how many chips, how fast."""

    accelerator: str
    pool: str | None
    fits: bool
    why: str
    chips: int | None
    nodes: int | None
    kv_bytes_per_token: float | None
    memory: Memory = field(default_factory=Memory)
    prefill_tokens_s: float | None = None
    decode_tokens_s_per_seq: float | None = None
    decode_tokens_s: float | None = None
    train_tokens_s: float | None = None
    usd_per_hour: float | None = None
    usd_per_mtok: float | None = None
    price_source: str | None = None  # "pool" or the listed price used (the cheapest for the chip)


def validate(request: FitRequest) -> None:
    """InvalidInput (exit 2) for a request no estimate can answer."""
    model = request.model
    for name, value in (("precision", request.precision), ("kv-precision", request.kv_dtype)):
        if value not in PRECISIONS:
            raise InvalidInput(f'unknown {name} "{value}"; use one of: {", ".join(PRECISIONS)}')
    if request.mode not in MODES:
        raise InvalidInput(f'unknown mode "{request.mode}"; use one of: {", ".join(MODES)}')
    if request.mode == "training" and request.precision not in ("bf16", "fp16"):
        raise InvalidInput(f"full training keeps 16-bit weights (bf16 or fp16), not {request.precision}; "
                           "use --mode lora to train adapters over quantized weights")
    if request.tokens < 1:
        raise InvalidInput(f"context must be at least 1 token (got {request.tokens})")
    if model.max_context is not None and request.tokens > model.max_context:
        raise InvalidInput(f"context {request.tokens} is above {model.id}'s maximum of {model.max_context} tokens")
    if request.batch < 1:
        raise InvalidInput(f"batch must be at least 1 (got {request.batch})")
    if not 0 < request.mfu <= 1:
        raise InvalidInput(f"mfu must be in (0, 1] (got {request.mfu:g})")
    if not 0 < request.efficiency <= 1:
        raise InvalidInput(f"efficiency must be in (0, 1] (got {request.efficiency:g})")
    missing = [n for n in ("layers", "hidden_size") if getattr(model, n) is None]
    if model.attention != "mla":
        missing += [n for n in ("kv_heads", "head_dim") if getattr(model, n) is None]
    if missing:
        raise InvalidInput(f"{model.id} has no {', '.join(missing)} in the catalog, so its KV cache cannot be sized")


# --- memory -----------------------------------------------------------------------------

def kv_bytes_per_token(model: Model, kv_precision: str) -> float:
    """KV cache bytes one token adds across all layers (before any sliding-window cap).

    MHA/GQA/MQA: 2 (K and V) x layers x KV heads x head dim x bytes; MLA: the compressed
    latent width x layers x bytes (DeepSeek-V2 paper, section 2.1).
    """
    return _per_layer_kv(model, kv_precision) * _need(model.layers, model, "layers")


def _per_layer_kv(model: Model, kv_precision: str) -> float:
    if model.attention == "mla" and model.mla_kv_width:
        return model.mla_kv_width * BYTES[kv_precision]
    return 2 * _need(model.kv_heads, model, "kv_heads") * _need(model.head_dim, model, "head_dim") * BYTES[kv_precision]


def kv_cache_bytes(model: Model, kv_precision: str, context: int, batch: int) -> float:
    """The KV cache of `batch` sequences of `context` tokens; sliding-window layers keep at most the window."""
    layers = _need(model.layers, model, "layers")
    window_layers = 0 if model.sliding_window is None else (model.sliding_layers or layers)
    tokens = (layers - window_layers) * context + window_layers * min(context, model.sliding_window or context)
    return _per_layer_kv(model, kv_precision) * tokens * batch


def lora_params(model: Model) -> float:
    """Trainable LoRA parameters: rank r on q, k, v and o of every layer, r x (in + out) each."""
    h = _need(model.hidden_size, model, "hidden_size")
    q_width = (model.heads or 0) * (model.head_dim or 0) or h
    kv_width = (model.kv_heads or 0) * (model.head_dim or 0) or h
    per_layer = LORA_RANK * ((h + q_width) + 2 * (h + kv_width) + (q_width + h))
    return per_layer * _need(model.layers, model, "layers")


def memory(request: FitRequest, chips_used: int) -> Memory:
    """The memory the whole job needs on `chips_used` chips (overhead counted once per chip)."""
    model, context, batch = request.model, request.tokens, request.batch
    h = _need(model.hidden_size, model, "hidden_size")
    layers = _need(model.layers, model, "layers")
    weights = model.params_b * 1e9 * BYTES[request.precision]
    kv = kv_cache_bytes(model, request.kv_dtype, context, batch)
    overhead = FRAMEWORK_OVERHEAD_BYTES * chips_used
    if request.mode == "inference":
        in_flight = min(batch * context, PREFILL_CHUNK_TOKENS)
        serving = float(in_flight * INFER_ACTIVATION_VALUES_PER_TOKEN * h * 2 + batch * (model.vocab_size or 0) * 4)
        return Memory(weights=weights, kv_cache=kv, activations=serving, overhead=overhead)
    activations = float(TRAIN_ACTIVATION_BYTES_PER_TOKEN_LAYER * h * layers * context * batch)
    trained = model.params_b * 1e9 if request.mode == "training" else lora_params(model)
    if request.mode == "lora":
        weights += trained * BYTES["bf16"]  # the adapters themselves, kept in 16-bit
    # Training needs no KV cache: attention reads K and V of the sequence being trained.
    return Memory(weights=weights, activations=activations, gradients=trained * GRADIENT_BYTES,
                  optimizer=trained * ADAM_STATE_BYTES, overhead=overhead)


# --- placement ----------------------------------------------------------------------------

def chips_per_node(acc: Accelerator, pool: PoolBase | None = None) -> int:
    """Chips one node holds: the pool's count, the catalog's host size, or the HGX-style 8."""
    if pool is not None:
        return pool.count
    known = chips.max_chips_per_host(acc.id)
    return known[0] if known else DEFAULT_CHIPS_PER_NODE


def plan_sizes(per_node: int, max_nodes: int) -> list[tuple[int, int]]:
    """(chips, nodes) a plan may use, smallest first: tensor parallel over 1, 2, 4, ... chips
    of one node (a power of two, as attention heads split evenly), then whole nodes in a pipeline."""
    sizes = [(n, 1) for n in (2**i for i in range(per_node.bit_length())) if n < per_node]
    return sizes + [(per_node * k, k) for k in range(1, max_nodes + 1)]


def smallest_plan(request: FitRequest, acc: Accelerator, pool: PoolBase | None = None
                  ) -> tuple[int, int, Memory] | str:
    """The fewest (chips, nodes) whose usable memory holds the job, or why none does."""
    if acc.memory_gb is None:
        return f"{acc.id} has no memory figure in the catalog"
    usable = acc.memory_gb * 1e9 * USABLE_MEMORY_FRACTION
    per_node = chips_per_node(acc, pool)
    max_nodes = pool.nodes if pool is not None else MAX_NODES
    for n, nodes in plan_sizes(per_node, max_nodes):
        need = memory(request, n)
        if need.total / n <= usable:
            return n, nodes, need
    most = per_node * max_nodes
    need = memory(request, most)
    where = f"pool {pool.name} ({per_node} x {max_nodes})" if pool is not None else f"{max_nodes} nodes of {per_node}"
    return (f"needs {need.total / 1e9:,.0f} GB; {most} chips in {where} give "
            f"{usable * most / 1e9:,.0f} GB usable")


def max_batch(request: FitRequest, acc: Accelerator, n: int, limit: int = 65536) -> int:
    """The most sequences of `request.tokens` tokens whose memory fits in n chips' usable
    memory (0: not even one). Serving engines fill the KV cache this way (vLLM, TensorRT-LLM)."""
    if acc.memory_gb is None:
        return 0
    usable = acc.memory_gb * 1e9 * USABLE_MEMORY_FRACTION * n

    def fits(batch: int) -> bool:
        return memory(dataclasses.replace(request, batch=batch), n).total <= usable

    if not fits(1):
        return 0
    low, high = 1, limit
    while low < high:  # the largest batch that fits: memory grows with the batch
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


# --- speed ----------------------------------------------------------------------------------

def peak_flops(acc: Accelerator, precision: str) -> float | None:
    """FLOP/s (or OP/s for int8) one chip does at the precision's dense peak; None if unknown."""
    tflops = acc.number(COMPUTE_PEAK[precision])
    return None if tflops is None else tflops * 1e12


def prefill_flops_per_token(model: Model, context: int) -> float:
    """2 x active parameters, plus causal attention: 2 matmuls x 2 FLOPs x heads x head dim over
    an average of context/2 earlier tokens, in every layer."""
    attention = 2 * (model.layers or 0) * context * (model.heads or 0) * (model.head_dim or 0)
    return 2 * model.active_params + attention


def decode_weight_bytes(model: Model, precision: str, batch: int) -> float:
    """Weights one decode step reads. Dense: all of them. MoE: the shared part plus the experts
    the batch's tokens touch; each of E experts is touched by one of `batch` tokens choosing k
    with probability 1 - (1 - k/E)^batch (a uniform router), so batch 1 reads the active parameters."""
    if not model.is_moe or model.active_params_b is None:
        return model.params_b * 1e9 * BYTES[precision]
    experts, k = model.experts or 1, model.experts_active or 1
    expert = (model.params_b - model.active_params_b) * 1e9 / max(experts - k, 1)  # one expert, all layers
    shared = model.active_params - k * expert
    touched = experts * (1 - (1 - k / experts) ** batch)
    return (shared + touched * expert) * BYTES[precision]


def speeds(request: FitRequest, acc: Accelerator, n: int) -> dict[str, float | None]:
    """Roofline tokens/s on n chips (None where the catalog lacks the figure)."""
    model, context, batch = request.model, request.tokens, request.batch
    flops = peak_flops(acc, request.precision)
    bandwidth = None if acc.mem_bw_tbps is None else acc.mem_bw_tbps * 1e12
    out: dict[str, float | None] = {"prefill_tokens_s": None, "decode_tokens_s_per_seq": None,
                                    "decode_tokens_s": None, "train_tokens_s": None}
    if request.mode != "inference":
        per_param = TRAIN_FLOPS_PER_PARAM if request.mode == "training" else LORA_FLOPS_PER_PARAM
        if flops is not None:
            out["train_tokens_s"] = n * flops * request.mfu / (per_param * model.active_params)
        return out
    compute_bound = None if flops is None else n * flops / prefill_flops_per_token(model, context)
    out["prefill_tokens_s"] = None if compute_bound is None else compute_bound * request.efficiency
    if bandwidth is not None:
        step_bytes = (decode_weight_bytes(model, request.precision, batch)
                      + kv_cache_bytes(model, request.kv_dtype, context, batch))
        step_s = step_bytes / (n * bandwidth)
        if compute_bound is not None:  # a big batch turns decode compute-bound again
            step_s = max(step_s, batch / compute_bound)
        out["decode_tokens_s_per_seq"] = request.efficiency / step_s
        out["decode_tokens_s"] = batch * request.efficiency / step_s
    return out


def fit_row(request: FitRequest, acc: Accelerator, pool: PoolBase | None = None) -> FitRow:
    """One row of `accelctl fit`: the smallest plan on this accelerator (or pool) and its speeds."""
    kv_token = kv_bytes_per_token(request.model, request.kv_dtype)
    name = pool.name if pool is not None else None
    plan = smallest_plan(request, acc, pool)
    if isinstance(plan, str):
        return FitRow(acc.id, name, False, plan, None, None, kv_token, memory(request, 1))
    n, nodes, need = plan
    rates = speeds(request, acc, n)
    wanted = "train_tokens_s" if request.mode != "inference" else "prefill_tokens_s"
    gaps = [] if rates[wanted] is not None else [f"no {COMPUTE_PEAK[request.precision]} figure"]
    if request.mode == "inference" and acc.mem_bw_tbps is None:
        gaps.append("no bandwidth figure")
    layout = f"TP {n}" if nodes == 1 else f"TP {n // nodes} x PP {nodes}"
    why = f"{layout}; {need.total / n / 1e9:,.1f} of {acc.memory_gb:g} GB per chip"
    if gaps:
        why += f" ({', '.join(gaps)}: speed unknown)"
    return FitRow(acc.id, name, True, why, n, nodes, kv_token, need, prefill_tokens_s=rates["prefill_tokens_s"],
                  decode_tokens_s_per_seq=rates["decode_tokens_s_per_seq"], decode_tokens_s=rates["decode_tokens_s"],
                  train_tokens_s=rates["train_tokens_s"])


def chip_price(acc: Accelerator, pool: PoolBase | None, prices: Sequence[Price]) -> tuple[float, str] | None:
    """USD per chip-hour and where it comes from: the pool's own price, else the cheapest listed one."""
    if pool is not None and pool.price_per_chip_hour is not None:
        return pool.price_per_chip_hour, f"pool {pool.name}"
    listed = [p for p in prices if p.accelerator == acc.id]
    if not listed:
        return None
    cheapest = min(listed, key=lambda p: p.usd_per_chip_hour)
    return cheapest.usd_per_chip_hour, f"cheapest listed: {cheapest.label} (read {cheapest.read})"


def with_cost(row: FitRow, acc: Accelerator, pool: PoolBase | None, prices: Sequence[Price]) -> FitRow:
    """The row with $/hour for its chips and $ per million tokens (decode, or training, tokens)."""
    price = chip_price(acc, pool, prices)
    if price is None or not row.fits or row.chips is None:
        return row
    per_hour = price[0] * row.chips
    rate = row.decode_tokens_s if row.decode_tokens_s is not None else row.train_tokens_s
    per_mtok = None if not rate else per_hour / (rate * 3600 / 1e6)
    return dataclasses.replace(row, usd_per_hour=per_hour, usd_per_mtok=per_mtok, price_source=price[1])


def fit_rows(request: FitRequest, accelerators: Sequence[Accelerator],
             pools: Sequence[tuple[PoolBase, Accelerator]] = (), prices: Sequence[Price] = ()) -> list[FitRow]:
    """Rows for each accelerator and each (pool, its accelerator): fitting ones first, fewest chips first."""
    validate(request)
    rows = [with_cost(fit_row(request, acc), acc, None, prices) for acc in accelerators] + \
        [with_cost(fit_row(request, acc, p), acc, p, prices) for p, acc in pools]
    return sorted(rows, key=lambda r: (not r.fits, r.chips or math.inf,
                                       -(r.decode_tokens_s or r.train_tokens_s or 0)))


def _need(value: int | None, model: Model, name: str) -> int:
    if value is None:
        raise InvalidInput(f"{model.id} has no {name} in the catalog")
    return value
