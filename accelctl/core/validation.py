"""Type and range validation of inventory entries with pydantic.

Imported only when an inventory is validated (a cache miss or `accelctl
validate`), because pydantic takes a quarter of a second to load. pydantic's
errors become Problems pinned to the line and column of the field at fault.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from accelctl.core.models import POOL_TYPES, Accelerator, FieldError, KubernetesInfo, Reading, Source, Tflops
from accelctl.core.problems import did_you_mean

if TYPE_CHECKING:
    from accelctl.core.inventory import _Entry, _Merger

# Nested record types, by the field that holds them: for "did you mean" on unknown keys.
_NESTED: dict[str, type] = {"tflops": Tflops, "sources": Source, "kubernetes": KubernetesInfo}
_ROOT: dict[str, type | None] = {"accelerators": Accelerator, "reading": Reading, "pools": None}


@cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def validate_entries(merger: _Merger, section: str) -> list[tuple[Any, _Entry]]:
    """Validate every merged entry of one section; problems go to the merger.

    Returns (value, entry) for the valid entries, in order; invalid ones are left out.
    """
    valid = []
    for entry in merger.entries[section].values():
        cls = _ROOT[section] or _pool_type(merger, entry)
        if cls is None:
            continue
        try:
            # JSON mode: strict types, yet dicts are accepted for dataclasses.
            valid.append((_adapter(cls).validate_json(json.dumps(entry.data)), entry))
        except ValidationError as e:
            errors = e.errors(include_url=False)
            for err in errors:
                if not _caused_by_inner(err, errors):
                    _report(merger, entry, cls, err)
    return valid


def _caused_by_inner(err: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """A "too short" list whose items failed: the items' errors say it better."""
    n = len(err["loc"])
    return err["type"] == "too_short" and any(
        len(o["loc"]) > n and tuple(o["loc"][:n]) == tuple(err["loc"]) for o in errors)


def _pool_type(merger: _Merger, entry: _Entry) -> type | None:
    backend = entry.data.get("backend")
    if backend in POOL_TYPES:
        return POOL_TYPES[backend]
    hint = did_you_mean(str(backend), POOL_TYPES) if isinstance(backend, str) else ""
    merger._fail(entry, ("backend",) if "backend" in entry.data else (),
                 f"backend must be one of {', '.join(POOL_TYPES)}{hint}", key="backend" not in entry.data)
    return None


def _report(merger: _Merger, entry: _Entry, cls: type, err: dict[str, Any]) -> None:
    loc = tuple(err["loc"])
    kind = err["type"]
    error = err.get("ctx", {}).get("error")
    if isinstance(error, FieldError):
        merger._fail(entry, loc + (error.field,), str(error))
    elif kind == "unexpected_keyword_argument":
        allowed = [f.name for f in dataclasses.fields(_owner(cls, loc))]
        merger._fail(entry, loc, f"unknown field{did_you_mean(str(loc[-1]), allowed)}", key=True)
    elif kind in ("missing", "missing_argument"):
        merger._fail(entry, loc[:-1], f"missing required field `{loc[-1]}`", key=True)
    else:
        message = err["msg"]
        if not isinstance(err.get("input"), (dict, list)):
            message += f" (got {json.dumps(err.get('input'))})"
        merger._fail(entry, loc, message)


def _owner(cls: type, loc: tuple[Any, ...]) -> type:
    """The record type that holds the last field of `loc`."""
    for part in loc[:-1]:
        if isinstance(part, str) and part in _NESTED:
            cls = _NESTED[part]
    return cls
