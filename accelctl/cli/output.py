"""Writing results: rich tables on a terminal, plain columns in a pipe, JSON or YAML.

rich loads only when stdout is a terminal, which keeps piped runs fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from accelctl.core.plain import to_plain

FORMATS = ("table", "json", "yaml")
output_option = click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default="table",
                             show_default=True, help="Output format.")

Cell = str | tuple[str, str]  # text, or (text, rich style)


def emit_data(data: Any, fmt: str) -> None:
    """Write `data` as JSON or YAML to stdout."""
    plain = to_plain(data)
    if fmt == "json":
        sys.stdout.write(json.dumps(plain, indent=2, ensure_ascii=False) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=1000))


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console() -> Any:
    """A rich Console on stdout; honours NO_COLOR (rich reads it itself)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def emit_table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str | None = None,
               right: Iterable[int] = ()) -> None:
    """A table: rich on a terminal, aligned plain columns otherwise.

    `right` lists the columns to right-align (numbers).
    """
    rows = [list(r) for r in rows]
    right = set(right)
    if is_terminal():
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, header_style="bold", box=None, pad_edge=False, title_justify="left")
        for i, h in enumerate(headers):
            table.add_column(h, justify="right" if i in right else "left")
        for row in rows:
            table.add_row(*(Text(c[0], style=c[1]) if isinstance(c, tuple) else Text(c) for c in row))
        console().print(table)
        return
    texts = [[c[0] if isinstance(c, tuple) else c for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    out = []
    if title:
        out.append(title)
    for row in [list(headers)] + texts:
        cells = [row[i].rjust(w) if i in right else row[i].ljust(w) for i, w in enumerate(widths)]
        out.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(out) + "\n")
