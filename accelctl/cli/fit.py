"""`accelctl fit`: will a model fit an accelerator or pool, on how many chips, and how fast."""

from __future__ import annotations

from typing import Any

import click

from accelctl.cli.context import Context, pass_ctx
from accelctl.cli.output import Cell, emit_data, emit_table, is_terminal, output_option
from accelctl.core import fit as planner
from accelctl.core.models import CPU, Accelerator, Model
from accelctl.core.numbers import num
from accelctl.core.pools import PoolBase
from accelctl.errors import InvalidInput


@click.command(name="fit")
@click.argument("model_name", metavar="MODEL", required=False)
@click.option("--mode", type=click.Choice(planner.MODES), default="inference", show_default=True,
              help="Serve the model, train it fully (mixed-precision Adam), or train LoRA adapters.")
@click.option("--precision", type=click.Choice(planner.PRECISIONS), default="bf16", show_default=True,
              help="Weight precision (int4: weight-only, computed at the bf16 peak).")
@click.option("--kv-precision", type=click.Choice(planner.PRECISIONS), default=None,
              help="KV cache precision [default: the weights' precision; bf16 for int4 weights].")
@click.option("--context", type=int, default=None, metavar="N",
              help="Tokens per sequence [default: the model's maximum up to 8192; 4096 for training].")
@click.option("--batch", type=int, default=1, show_default=True, metavar="N", help="Sequences at once.")
@click.option("--accelerator", "accelerators", multiple=True, metavar="ID",
              help="Only this accelerator (id or alias); repeat for more. Default: every one with figures.")
@click.option("--pool", "pool_names", multiple=True, metavar="P", help="Plan on this pool's chips and nodes; repeat.")
@click.option("--mfu", type=float, default=planner.DEFAULT_MFU, show_default=True, metavar="F",
              help="Model-FLOPs utilisation assumed for training speed.")
@click.option("--efficiency", default="1", show_default=True, metavar="F|measured",
              help="Scale the inference rooflines: a factor in (0, 1], or `measured` for "
                   f"{planner.MEASURED_DECODE_EFFICIENCY:g}, the median of published MLPerf results over "
                   "accelctl's estimate (README).")
@click.option("--list", "list_models", is_flag=True, help="List the catalog's models and exit.")
@output_option
@pass_ctx
def fit(ctx: Context, model_name: str | None, mode: str, precision: str, kv_precision: str | None,
        context: int | None, batch: int, accelerators: tuple[str, ...], pool_names: tuple[str, ...], mfu: float,
        efficiency: str, list_models: bool, fmt: str) -> None:
    """Will MODEL fit, on how many chips, how fast: memory breakdown and roofline speeds.

    Speeds are upper bounds (dense peak compute, full memory bandwidth); real systems run
    below them. The README's "Will it fit?" section gives every formula and constant.
    """
    inventory = ctx.inventory
    if list_models:
        _list(list(inventory.models), fmt)
        return
    if model_name is None:
        raise InvalidInput("name a model (`accelctl fit --list` shows them)")
    request = planner.FitRequest(model=inventory.model(model_name), mode=mode,  # type: ignore[arg-type]
                                 precision=precision, kv_precision=kv_precision, context=context, batch=batch,
                                 mfu=mfu, efficiency=_efficiency(efficiency))
    planner.validate(request)
    chosen = [inventory.accelerator(a) for a in accelerators]
    for acc in chosen:
        if planner.peak_flops(acc, precision) is None:
            peak = planner.COMPUTE_PEAK[precision]
            raise InvalidInput(f"{acc.id} has no {peak} figure in the catalog; try another --precision "
                               f"(see `accelctl show {acc.id}`)")
    pools = [_pool_accelerator(inventory, inventory.pool(p)) for p in pool_names]
    if not chosen and not pools:
        chosen = [a for a in inventory.accelerators if a.memory_gb is not None and a.mem_bw_tbps is not None
                  and a.status is None]
    rows = planner.fit_rows(request, chosen, pools, inventory.prices)
    if fmt != "table":
        emit_data(_json(request, rows), fmt)
        return
    _table(request, rows)


def _efficiency(text: str) -> float:
    if text.strip().lower() == "measured":
        return planner.MEASURED_DECODE_EFFICIENCY
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f'efficiency must be a number in (0, 1] or "measured" (got "{text}")') from None


def _pool_accelerator(inventory: Any, pool: PoolBase) -> tuple[PoolBase, Accelerator]:
    if pool.accelerator == CPU:
        raise InvalidInput(f"pool {pool.name} has no accelerators (accelerator: cpu)")
    return pool, inventory.accelerator(pool.accelerator)


def _json(request: planner.FitRequest, rows: list[planner.FitRow]) -> dict[str, Any]:
    def whole(x: float | None) -> int | None:
        return None if x is None else round(x)

    def speed(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {
        "model": request.model.id, "mode": request.mode, "precision": request.precision,
        "kv_precision": request.kv_dtype, "context": request.tokens, "batch": request.batch,
        "rows": [{
            "accelerator": r.accelerator, "pool": r.pool, "fits": r.fits, "why": r.why, "chips": r.chips,
            "nodes": r.nodes, "kv_bytes_per_token": whole(r.kv_bytes_per_token),
            "memory": {name: whole(getattr(r.memory, name)) for name in
                       ("weights", "kv_cache", "activations", "gradients", "optimizer", "overhead", "total")},
            "prefill_tokens_s": speed(r.prefill_tokens_s), "decode_tokens_s_per_seq": speed(r.decode_tokens_s_per_seq),
            "decode_tokens_s": speed(r.decode_tokens_s), "train_tokens_s": speed(r.train_tokens_s),
            "usd_per_hour": _usd(r.usd_per_hour), "usd_per_mtok": _usd(r.usd_per_mtok),
            "price_source": r.price_source,
        } for r in rows],
    }


def _usd(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _gb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e9:,.1f}"


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _table(request: planner.FitRequest, rows: list[planner.FitRow]) -> None:
    model = request.model
    training = request.mode != "inference"
    headers = ["ACCELERATOR", "POOL", "FITS", "CHIPS", "NODES", "GB/CHIP"]
    headers += ["TRAIN tok/s"] if training else ["PREFILL tok/s", "DECODE tok/s/seq", "DECODE tok/s"]
    headers += ["$/HOUR", "$/M tok", "WHY"]
    body: list[list[Cell]] = []
    for r in rows:
        per_chip = None if not r.chips else r.memory.total / r.chips
        cells: list[Cell] = [r.accelerator, r.pool or "-", ("yes", "green") if r.fits else ("no", "red"),
                 num(r.chips), num(r.nodes), _gb(per_chip)]
        cells += [_rate(r.train_tokens_s)] if training else \
            [_rate(r.prefill_tokens_s), _rate(r.decode_tokens_s_per_seq), _rate(r.decode_tokens_s)]
        body.append([*cells, _money(r.usd_per_hour), _money(r.usd_per_mtok), r.why])
    title = (f"{model.name}: {request.mode}, {request.precision} weights, {request.kv_dtype} KV cache, "
             f"context {request.tokens:,}, batch {request.batch}")
    emit_table(headers, body, title=title, right=range(3, len(headers) - 1))
    fitting = next((r for r in rows if r.fits), None)
    if fitting is not None:
        m = fitting.memory
        parts = [("weights", m.weights), ("KV cache", m.kv_cache), ("activations", m.activations),
                 ("gradients", m.gradients), ("optimizer", m.optimizer), ("overhead", m.overhead)]
        breakdown = ", ".join(f"{label} {_gb(v)}" for label, v in parts if v)
        click.echo(f"memory on {fitting.chips} x {fitting.accelerator} (GB): {breakdown}; total {_gb(m.total)}")
    click.echo(f"KV cache per token: {num(rows[0].kv_bytes_per_token if rows else None)} bytes")
    sources = dict.fromkeys(f"{r.accelerator}: {r.price_source}" for r in rows if r.price_source)
    if sources:
        click.echo("prices (USD per chip-hour x chips; $/M tok at the decode or training rate): " + "; ".join(sources))
    if is_terminal():
        note = (f"rooflines: training at {request.mfu:g} MFU" if training else
                "rooflines: prefill at the dense peak, decode at full memory bandwidth")
        bound = "upper bounds, real systems run below them"
        if not training and request.efficiency != 1:
            note, bound = f"{note}, x {request.efficiency:g} (--efficiency)", "scaled towards measured results"
        click.secho(f"{note}; {bound}. Formulas: README, \"Will it fit?\"", dim=True, err=True)


def _list(models: list[Model], fmt: str) -> None:
    if fmt != "table":
        emit_data(models, fmt)
        return
    rows = [(m.id, m.name, num(m.params_b), num(m.active_params_b), num(m.layers), m.attention or "-",
             num(m.kv_heads), num(m.head_dim), num(m.max_context), ", ".join(m.aliases[:2])) for m in models]
    emit_table(("ID", "NAME", "PARAMS B", "ACTIVE B", "LAYERS", "ATTENTION", "KV HEADS", "HEAD DIM", "CONTEXT",
                "ALIASES"), rows, right=(2, 3, 4, 6, 7, 8))
