"""Placement: which pool a job spec goes to, its shape there, and why other pools were rejected.

Problems with the spec itself (an unknown accelerator, a topology its TPU generation
does not have, more chips per node than its hosts carry) are pinned to the spec's
`path:line:column`, like every other problem in a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accelctl.core import chips
from accelctl.core.inventory import Inventory
from accelctl.core.jobspec import AUTO, JobSpec, load_jobspec
from accelctl.core.models import CPU
from accelctl.core.pools import Pool
from accelctl.core.problems import Problem, ProblemsFound
from accelctl.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from accelctl.core import fit


class NoPoolFits(InvalidInput):
    """No pool of the inventory can take the job; the message lists each pool and why."""


@dataclass(frozen=True)
class Placement:
    """Where a spec goes: the pool, the resolved accelerator id, the job's shape (chips per
    node, nodes: a TPU topology decides both), and why other pools were rejected."""

    pool: Pool
    accelerator: str  # catalog id, or "cpu"
    count: int  # chips per node
    nodes: int
    rejected: tuple[tuple[str, str], ...] = ()


def place(spec: JobSpec, inventory: Inventory, pool_name: str | None = None) -> Placement:
    """Choose the pool for `spec`: `pool_name` (--pool), else the spec's pool, else the first
    that fits. Example pools are never chosen automatically.

    Raises ProblemsFound for a problem in the spec (located), NotFound for an unknown
    --pool, and InvalidInput listing every pool with its reason when none fits.
    """
    if spec.accelerator == AUTO:
        return _place_auto(spec, inventory, pool_name)
    accelerator = _accelerator(spec, inventory)
    count, nodes = shape(spec, accelerator)
    if pool_name or spec.pool:
        try:
            pool = inventory.pool(pool_name or spec.pool or "")
        except NotFound as e:
            if pool_name:
                raise NotFound(f"--pool: {e.message}", e.hint) from None
            raise ProblemsFound([spec.problem("pool", f"{e.message}; {e.hint}" if e.hint else e.message)]) from None
        reason = _misfit(accelerator, count, nodes, pool, inventory, explicit=True)
        if reason:
            raise InvalidInput(f'pool "{pool.name}" cannot run {spec.name}: {reason}')
        return Placement(pool, accelerator, count, nodes)
    rejected: list[tuple[str, str]] = []
    for pool in inventory.pools:
        reason = _misfit(accelerator, count, nodes, pool, inventory, explicit=False)
        if reason is None:
            return Placement(pool, accelerator, count, nodes, tuple(rejected))
        rejected.append((pool.name, reason))
    listing = "".join(f"\n  {name}: {why}" for name, why in rejected)
    raise NoPoolFits(f"no pool fits {spec.name} ({count}x {accelerator} x {nodes} node(s)); add a pool in your "
                     f"overlay (see `accelctl pools`) or pass --pool. Pools:{listing}")


def _place_auto(spec: JobSpec, inventory: Inventory, pool_name: str | None) -> Placement:
    """`accelerator: auto`: the cheapest pool (by the fit planner: its chips' price x the fewest
    chips that hold `model`) among those that fit; every other pool is rejected with its reason.
    Pools with no price rank after priced ones, by fewest chips. A named pool (--pool, `pool:`)
    is the only candidate."""
    from accelctl.core import fit  # only for auto placement

    try:
        model = inventory.model(spec.model or "")
    except NotFound as e:
        raise ProblemsFound([spec.problem("model", f"{e.message}; {e.hint}" if e.hint else e.message)]) from None
    request = fit.FitRequest(model, mode="training" if spec.kind == "training" else "inference")
    named = pool_name or spec.pool
    try:
        candidates = [inventory.pool(named)] if named else list(inventory.pools)
    except NotFound as e:
        if pool_name:
            raise NotFound(f"--pool: {e.message}", e.hint) from None
        raise ProblemsFound([spec.problem("pool", f"{e.message}; {e.hint}" if e.hint else e.message)]) from None
    fitting: list[tuple[tuple[float, int], Pool, fit.FitRow]] = []
    rejected: list[tuple[str, str]] = []
    for pool in candidates:
        if pool.example and not named:
            rejected.append((pool.name, "example pool (copy it to your overlay and edit it to use it)"))
        elif pool.accelerator == CPU:
            rejected.append((pool.name, f"has no accelerators; {model.id} needs some"))
        else:
            acc = inventory.accelerator(pool.accelerator)
            row = fit.with_cost(fit.fit_row(request, acc, pool), acc, pool, inventory.prices)
            if not row.fits or row.chips is None:
                rejected.append((pool.name, f"{model.id} does not fit: {row.why}"))
            else:
                rank = (row.usd_per_hour if row.usd_per_hour is not None else float("inf"), row.chips)
                fitting.append((rank, pool, row))
    if not fitting:
        listing = "".join(f"\n  {name}: {why}" for name, why in rejected)
        raise NoPoolFits(f"no pool fits {spec.name} ({model.id}, {request.mode}, bf16, context {request.tokens:,}); "
                         f"add a pool in your overlay (see `accelctl pools`) or pass --pool. Pools:{listing}")
    fitting.sort(key=lambda item: item[0])
    (_, pool, row), others = fitting[0], fitting[1:]
    for _, other, other_row in others:
        if other_row.usd_per_hour is None:
            why = (f"fits on {other_row.chips} chip(s), but {other_row.accelerator} has no listed price "
                   f"(set the pool's price_per_chip_hour)")
        else:
            why = f"fits on {other_row.chips} chip(s) at {_cost(other_row)}, dearer than {pool.name} at {_cost(row)}"
        rejected.append((other.name, why))
    nodes = row.nodes or 1
    count = (row.chips or 1) if nodes == 1 else pool.count
    return Placement(pool, row.accelerator, count, nodes, tuple(rejected))


def _cost(row: fit.FitRow) -> str:
    return "no listed price" if row.usd_per_hour is None else f"${row.usd_per_hour:,.2f}/h"


def _accelerator(spec: JobSpec, inventory: Inventory) -> str:
    if spec.accelerator == CPU:
        return CPU
    try:
        return inventory.accelerator(spec.accelerator).id
    except NotFound as e:
        raise ProblemsFound([spec.problem("accelerator", f"{e.message}; {e.hint}")]) from None


def shape(spec: JobSpec, accelerator: str) -> tuple[int, int]:
    """(chips per node, nodes) of the job; a TPU topology decides both.

    A topology on a non-TPU accelerator, one its generation does not have, or a count
    or nodes that contradict it are located problems in the spec.
    """
    if spec.topology is not None:
        gen = chips.TPU.get(accelerator)
        if gen is None:
            raise ProblemsFound([spec.problem("topology", f"{accelerator} has no slice topology; "
                                              "topology applies to TPU accelerators only")])
        if not gen.valid(spec.topology):
            raise ProblemsFound([spec.problem("topology", f'{accelerator} has no {spec.topology} slice; '
                                              f"valid: {gen.examples()}")])
        per_host, hosts = gen.hosts(spec.topology)
        for key, want in (("count", per_host), ("nodes", hosts)):
            if spec.given(key) and getattr(spec, key) != want:
                raise ProblemsFound([spec.problem(key, f"a {spec.topology} {accelerator} slice has {per_host} "
                                                  f"chip(s) on each of {hosts} host(s); set {key}: {want} "
                                                  "or leave it out")])
        return per_host, hosts
    limit = chips.max_chips_per_host(accelerator)
    if limit is not None and spec.count > limit[0]:
        raise ProblemsFound([spec.problem("count", f"{accelerator} hosts have at most {limit[0]} chips "
                                          f"({limit[1]}); use nodes: to span hosts")])
    return spec.count, spec.nodes


def _misfit(accelerator: str, count: int, nodes: int, pool: Pool, inventory: Inventory,
            explicit: bool) -> str | None:
    """Why `pool` cannot take the job, or None when it can."""
    if pool.example and not explicit:
        return "example pool (copy it to your overlay and edit it to use it)"
    pool_acc = CPU if pool.accelerator == CPU else inventory.accelerator(pool.accelerator).id
    if accelerator != CPU and pool_acc != accelerator:
        return f"has {pool_acc}, not {accelerator}"
    if accelerator != CPU and count > pool.count:
        return f"has {pool.count} chip(s) per node, the job needs {count}"
    if nodes > pool.nodes:
        return f"has {pool.nodes} node(s), the job needs {nodes}"
    return None


def check_spec_file(path: str, inventory: Inventory,
                    also: Callable[[JobSpec, Placement], None] | None = None) -> tuple[list[Problem], list[str]]:
    """What `submit --dry-run` would find wrong in a job spec (for `accelctl validate`):
    (problems, warnings). That no pool of this inventory fits is a warning: the spec itself
    can be right; a named pool that cannot run it is a problem of its `pool` field. `also`:
    further checks of the placed spec (the pool's backend's), raising ProblemsFound."""
    try:
        spec = load_jobspec(path, inventory=inventory)
        placement = place(spec, inventory)
        if also is not None:
            also(spec, placement)
    except ProblemsFound as e:
        return e.problems, []
    except NoPoolFits as e:
        return [], [f"{path}: {e.message}"]
    except InvalidInput as e:
        return [Problem(path, 0, 0, "pool", e.message)], []
    return [], []
