"""Catalog commands: ls, show, compare, read, pools, validate."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import click

from accelctl.cli.context import Context, pass_ctx
from accelctl.cli.output import emit_data, emit_table, is_terminal, output_option
from accelctl.core.models import Accelerator
from accelctl.core.numbers import num
from accelctl.core.plain import to_plain
from accelctl.core.query import FILTER_HELP, SORT_FIELDS, AcceleratorQuery, ReadingQuery
from accelctl.core.query import compare as build_comparison
from accelctl.errors import InvalidInput

if TYPE_CHECKING:
    from accelctl.core.jobspec import JobSpec
    from accelctl.core.placement import Placement

_LIST_FIELDS = ("id", "name", "vendor", "kind", "form", "status", "year", "memory_gb", "memory_type", "mem_bw_tbps",
                "sram_mb", "sram_bw_tbps", "tflops", "tdp_w", "interconnect", "software", "kubernetes", "aliases",
                "sources", "notes")


def accelerator_json(acc: Accelerator) -> dict:
    """The JSON shape of one accelerator, as `ls -o json` prints it."""
    return {name: to_plain(getattr(acc, name)) for name in _LIST_FIELDS}


@click.command()
@click.option("-q", "--query", "text", default="", metavar="TEXT",
              help="Filter: words to find in id, name, vendor, kind, memory type or aliases; figure "
                   "comparisons (mem>100, bf16>=1000, bw>4, tdp<=700, year>=2024); fields (kind:tpu, vendor:amd).")
@click.option("--vendor", metavar="V", help="Vendor name (prefix, case-insensitive).")
@click.option("--kind", metavar="K", help="gpu, tpu, trainium, inferentia, npu, lpu, ...")
@click.option("--min-memory", type=click.FloatRange(min=0), metavar="GB", help="At least this much memory.")
@click.option("--sort", default="vendor", show_default=True, metavar="FIELD",
              help=f"Sort by a field; prefix with - for descending. Fields: {', '.join(SORT_FIELDS)}.")
@output_option
@pass_ctx
def ls(ctx: Context, text: str = "", vendor: str | None = None, kind: str | None = None,
       min_memory: float | None = None, sort: str = "vendor", fmt: str = "table") -> None:
    """List accelerators of the catalog (dense peak figures)."""
    query = AcceleratorQuery(text=text, vendor=vendor, kind=kind, min_memory_gb=min_memory, sort=sort)
    found = query.run(ctx.inventory.accelerators)
    if fmt != "table":
        emit_data([accelerator_json(a) for a in found], fmt)
        return
    headers = ("ID", "NAME", "VENDOR", "KIND", "YEAR", "MEM GB", "TB/s", "BF16", "FP8", "INT8", "TDP W")
    rows = [(a.id, a.name, a.vendor, a.kind, num(a.year), num(a.memory_gb), num(a.mem_bw_tbps),
             num(a.tflops.bf16), num(a.tflops.fp8), num(a.tflops.int8), num(a.tdp_w)) for a in found]
    emit_table(headers, rows, right=range(4, 11))
    if not found and text:  # said on stderr even in a pipe: an empty result needs a reason
        click.echo(f'accelctl: no accelerator matches "{text}"; a filter takes {FILTER_HELP}', err=True)
        return
    _note(f"{len(found)} of {len(ctx.inventory.accelerators)} accelerators; dense TFLOPS (TOPS for INT8); "
          "`accelctl show ID` for sources")


@click.command()
@click.argument("name", metavar="ID|ALIAS")
@output_option
@pass_ctx
def show(ctx: Context, name: str, fmt: str) -> None:
    """Show one accelerator: specs with their sources (and each source's kind), and its reading."""
    from accelctl.core.detail import detail_rows, source_lines

    inventory = ctx.inventory
    acc = inventory.accelerator(name)
    reading = inventory.reading_for(acc.id)
    if fmt != "table":
        emit_data({**accelerator_json(acc), "reading": to_plain(reading)}, fmt)
        return
    facts = [("Name", acc.name, "")] + [(r.label, r.value, r.cite) for r in detail_rows(acc, long_labels=True)]
    emit_table(("", acc.id, "SOURCE"), facts)
    if acc.notes:
        _section("Notes", [acc.notes])
    _section("Sources", [line.text for line in source_lines(acc)])
    _section(f"Reading ({len(reading)})",
             [f"{r.published or '':10}  {r.title or r.url}  {r.url if r.title else ''}".rstrip() for r in reading]
             or ["(none linked)"])


@click.command(name="compare")
@click.argument("names", nargs=-1, required=True, metavar="ID ID [ID...]")
@output_option
@pass_ctx
def compare(ctx: Context, names: tuple[str, ...], fmt: str) -> None:
    """Compare accelerators side by side: best value per row, ratios to the first."""
    from accelctl.core.detail import COMPARE_LEGEND, compare_lines, unit

    accelerators = [ctx.inventory.accelerator(n) for n in names]
    result = build_comparison(accelerators)
    if fmt != "table":
        emit_data({"accelerators": [a.id for a in result.accelerators],
                   "rows": [{"figure": r.figure, "label": r.label, "unit": unit(r.figure), "values": list(r.values),
                             "best": [a.id for a, b in zip(result.accelerators, r.best) if b],
                             "ratios": [None if x is None else round(x, 3) for x in r.ratios]}
                            for r in result.rows]}, fmt)
        return
    mark = "★" if is_terminal() else "*"
    rows = [[line.label, *((f"{c.text} {mark}", "bold green") if c.best else c.text for c in line.cells)]
            for line in compare_lines(result)]
    emit_table(["", *(a.id for a in accelerators)], rows, right=range(1, len(accelerators) + 1))
    _note(f"{mark} {COMPARE_LEGEND} ({accelerators[0].id})")


@click.command()
@click.option("-q", "--query", "text", default="", metavar="TEXT", help="Words to find in title, url, site, topics.")
@click.option("--accelerator", metavar="ID", help="Articles linked to this accelerator (id or alias).")
@click.option("--topic", metavar="T", help="e.g. inference, training, memory, interconnect, china.")
@click.option("--section", metavar="S", help="Reading-list section, e.g. News, Inference.")
@output_option
@pass_ctx
def read(ctx: Context, text: str, accelerator: str | None, topic: str | None, section: str | None,
         fmt: str) -> None:
    """List the reading: articles and discussions about the chips."""
    found = ReadingQuery(text=text, accelerator=accelerator, topic=topic, section=section).run(ctx.inventory)
    if fmt != "table":
        emit_data(found, fmt)
        return
    rows = [(r.published or "-", r.site, r.title or "(untitled)", r.url, ",".join(r.accelerators) or "-")
            for r in found]
    emit_table(("PUBLISHED", "SITE", "TITLE", "URL", "ACCELERATORS"), rows)
    _note(f"{len(found)} of {len(ctx.inventory.reading)} articles")


@click.group(invoke_without_command=True)
@output_option
@pass_ctx
@click.pass_context
def pools(click_ctx: click.Context, ctx: Context, fmt: str) -> None:
    """List pools: where jobs run (local Ray, Ray clusters, Kubernetes, SSH).

    `accelctl pools probe POOL` asks a pool's hosts which accelerators they have."""
    if click_ctx.invoked_subcommand:
        return
    from accelctl.backends.ssh_probe import load, summary

    items = ctx.inventory.pools
    if fmt != "table":
        emit_data(items, fmt)
        return
    rows = [(p.name, p.backend, p.accelerator, f"{p.count}x{p.nodes}", p.location, "example" if p.example else "")
            for p in items]
    emit_table(("NAME", "BACKEND", "ACCELERATOR", "CHIPSxNODES", "WHERE", ""), rows)
    for p in items:
        if probed := load(p.name):
            _note(f"{p.name} (probed {time.strftime('%Y-%m-%d %H:%M', time.localtime(probed[0]))}): "
                  f"{summary(probed[1])}")
    _note("add your own pools in an overlay file: see `accelctl --help` (--inventory)")


@pools.command(name="probe")
@click.argument("name", metavar="POOL")
@output_option
@pass_ctx
def probe_pool_cmd(ctx: Context, name: str, fmt: str) -> None:
    """Ask every host of POOL at once which accelerators it has (SSH pools), or whether it answers."""
    import asyncio

    from accelctl.backends import backend_for
    from accelctl.backends.jobs import probe_pool

    pool = ctx.inventory.pool(name)
    backend = backend_for(pool)
    hosts_of = getattr(backend, "probe_accelerators", None)
    if hosts_of is None:
        result = asyncio.run(probe_pool(pool))
        emit_data({"pool": pool.name, "ok": result.ok, "detail": result.detail}, fmt) if fmt != "table" else \
            emit_table(("POOL", "OK", "DETAIL"), [(pool.name, "yes" if result.ok else "no", result.detail)])
        sys.exit(0 if result.ok else 1)
    results = asyncio.run(hosts_of(list(ctx.inventory.accelerators)))
    if fmt != "table":
        emit_data([to_plain(r) for r in results], fmt)
    else:
        rows = [(r.host, d.id or f"? ({d.name})", str(d.count), "-" if d.memory_gib is None else f"{d.memory_gib:g}",
                 d.driver or "-") for r in results for d in r.devices]
        rows += [(r.host, "no answer: " + r.error if not r.ok else "no accelerators", "0", "-", "-")
                 for r in results if not r.ok or not r.devices]
        emit_table(("HOST", "ACCELERATOR", "COUNT", "MEMORY GiB", "DRIVER"), rows)
    sys.exit(0 if all(r.ok for r in results) else 1)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True), metavar="[FILE...]")
@output_option
@pass_ctx
def validate(ctx: Context, files: tuple[str, ...], fmt: str) -> None:
    """Check inventory files and job specs; report every problem. Exit 0 when all are clean.

    Each inventory FILE is checked as an overlay merged over the bundled inventory; a
    job spec is checked as `submit --dry-run` would (against your inventory). With no
    FILE, the bundled inventory and your overlay (if any) are checked.
    """
    from accelctl import paths
    from accelctl.core.inventory import check_inventory_files

    named = bool(files)
    if not files:
        overlay = paths.user_overlay(ctx.inventory_path)
        files = (str(overlay),) if overlay else ()
    specs = [f for f in files if _is_spec(f)]
    results = check_inventory_files([f for f in files if f not in specs])
    # Sourcing warnings for the files named (all of them when none is named).
    warn_about = {os.fspath(os.path.abspath(f)) for f in files} if named else None
    warnings = {name: _sourcing_warnings(name, results) for name, problems in results.items()
                if not problems and (warn_about is None or os.path.abspath(name) in warn_about)}
    if specs:
        from accelctl.backends import backend_for
        from accelctl.backends.jobs import check_env_refs
        from accelctl.core.placement import check_spec_file

        def pool_takes(spec: JobSpec, placement: Placement) -> None:
            check_env_refs(spec, backend_for(placement.pool))

        for spec in specs:
            results[spec], warnings[spec] = check_spec_file(spec, ctx.inventory, also=pool_takes)
    count = sum(len(problems) for problems in results.values())
    if fmt != "table":
        emit_data([{"file": name, "ok": not problems, "problems": [p.__dict__ for p in problems],
                    "warnings": warnings.get(name, [])} for name, problems in results.items()], fmt)
    for name, problems in results.items():
        for p in problems:
            click.echo(str(p), err=True)
        for warning in warnings.get(name, []):
            click.echo(f"warning: {warning}", err=True)
        if not problems and name in warnings and fmt == "table":
            click.echo(f"{name}: ok")
    if count:
        bad = sum(1 for p in results.values() if p)
        raise InvalidInput(f"{count} problem(s) in {bad} file(s)")


def _is_spec(path: str) -> bool:
    """Whether a file is a job spec (a file that cannot be read is left to the inventory check)."""
    from accelctl.core.jobspec import is_jobspec
    from accelctl.core.yaml_source import load_yaml_file

    try:
        return is_jobspec(load_yaml_file(path).data)
    except InvalidInput:
        return False


def _sourcing_warnings(name: str, results: dict) -> list[str]:
    """Sourcing warnings for the accelerators a clean file defines (they never fail validate).

    A figure with no vendor, cloud, benchmark or paper source, and a source on the
    blocklist, are worth fixing but not errors: an overlay may cite what it has.
    """
    from accelctl import paths
    from accelctl.core.inventory import build_inventory
    from accelctl.core.sourcing import warnings_for
    from accelctl.core.yaml_source import load_yaml_file

    bundled = str(paths.bundled_inventory())
    if name != bundled and results.get(bundled):
        return []  # an overlay merges over the bundled file: nothing to say while that has problems
    doc = load_yaml_file(name)
    base = [] if name == bundled else [load_yaml_file(bundled)]
    by_id = {a.id: a for a in build_inventory(base + [doc]).accelerators}
    items = doc.data.get("accelerators") if isinstance(doc.data, dict) else None
    found = []
    for i, item in enumerate(items or []):
        acc = by_id.get(str(item.get("id"))) if isinstance(item, dict) else None
        if acc is not None:
            found += [str(doc.problem(("accelerators", i, "sources"), f"{acc.id}: {message}", key=True))
                      for message in warnings_for(acc)]
    return found


def _note(text: str) -> None:
    """A hint under a table, on a terminal only (pipes get data, nothing else)."""
    if is_terminal():
        click.secho(text, dim=True, err=True)


def _section(title: str, lines: list[str]) -> None:
    out = sys.stdout
    out.write(f"\n{title}\n")
    for line in lines:
        out.write(f"  {line}\n")
