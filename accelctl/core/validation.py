"""Type and range validation of records with pydantic.

Imported only when a file is validated (an inventory cache miss, `accelctl
validate`, a job spec), because pydantic takes a quarter of a second to load.
pydantic's errors become Problems pinned to the line and column at fault.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from accelctl.core.models import EnvRef, FieldError, FieldErrors, KubernetesInfo, Resources, Source, Tflops
from accelctl.core.pools import Toleration
from accelctl.core.problems import did_you_mean

# Nested record types, by the field that holds them: for "did you mean" on unknown keys.
_NESTED: dict[str, type] = {"tflops": Tflops, "sources": Source, "kubernetes": KubernetesInfo,
                            "resources": Resources, "tolerations": Toleration, "EnvRef": EnvRef}
# Records that share a union with a plain value (`env: {X: "v"}` or `{X: {from_env: V}}`): pydantic
# names the union member in the location; the input's shape says which member was meant.
_RECORD_MEMBERS = {"EnvRef": "{from_env: VAR} or {secret: NAME}"}  # member -> how to write it
_SCALAR_MEMBERS = frozenset({"str", "int", "float", "bool"})
Item = TypeVar("Item")

# (location inside the record, message, whether to point at the key rather than the value)
Finding = tuple[tuple[Any, ...], str, bool]


@cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def check_record(cls: type, data: dict[str, Any]) -> tuple[Any, list[Finding]]:
    """Validate one record: (value or None, findings)."""
    try:
        # JSON mode: strict types, yet dicts are accepted for dataclasses.
        return _adapter(cls).validate_json(json.dumps(data)), []
    except ValidationError as e:
        errors: list[dict[str, Any]] = _meant_members([dict(err) for err in e.errors(include_url=False)])
        return None, [found for err in errors if not _caused_by_inner(err, errors) for found in _findings(cls, err)]


def validate_entries(items: Iterable[Item], record_type: Callable[[Item], type | None],
                     data: Callable[[Item], dict[str, Any]],
                     report: Callable[[Item, Finding], None]) -> list[tuple[Any, Item]]:
    """Validate each item as the record type `record_type` picks for it (None: skip it);
    each finding goes to `report`. Returns (value, item) for the valid items, in order."""
    valid = []
    for item in items:
        cls = record_type(item)
        if cls is None:
            continue
        value, findings = check_record(cls, data(item))
        for finding in findings:
            report(item, finding)
        if value is not None:
            valid.append((value, item))
    return valid


def _meant_members(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of a scalar-or-record union's errors, only those of the member the input's shape meant:
    a mapping means the record, anything else the scalar."""
    def member(err: dict[str, Any]) -> tuple[tuple[Any, ...], str] | None:
        loc = tuple(err["loc"])
        for i, part in enumerate(loc):
            if part in _RECORD_MEMBERS or (part in _SCALAR_MEMBERS and i == len(loc) - 1):
                return loc[:i], str(part)
        return None

    sites = {m[0] for err in errors if (m := member(err)) and m[1] in _RECORD_MEMBERS}
    kept = []
    for err in errors:
        found = member(err)
        if found and found[0] in sites:
            meant_record = isinstance(_input_at(errors, found[0]), dict)
            if (found[1] in _RECORD_MEMBERS) != meant_record:
                continue
            if not meant_record:
                records = {m[1] for o in errors if (m := member(o)) and m[0] == found[0] and m[1] in _RECORD_MEMBERS}
                err["msg"] += "".join(f", or {_RECORD_MEMBERS[r]}" for r in sorted(records))
        kept.append(err)
    return kept


def _input_at(errors: list[dict[str, Any]], site: tuple[Any, ...]) -> Any:
    """The input pydantic saw at a union site: the scalar member's error carries it whole."""
    for err in errors:
        loc = tuple(err["loc"])
        if loc[:-1] == site and loc[-1] in _SCALAR_MEMBERS:
            return err.get("input")
    return None


def _caused_by_inner(err: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """A "too short" list whose items failed: the items' errors say it better."""
    n = len(err["loc"])
    return err["type"] == "too_short" and any(
        len(o["loc"]) > n and tuple(o["loc"][:n]) == tuple(err["loc"]) for o in errors)


def _findings(cls: type, err: dict[str, Any]) -> list[Finding]:
    """One pydantic error as findings: several when a record's own checks failed several times."""
    error = err.get("ctx", {}).get("error")
    loc = tuple(err["loc"])
    loc = _clean_union_loc(loc)
    if isinstance(error, FieldErrors):
        return [(loc + (e.field,), str(e), False) for e in error.errors]
    if isinstance(error, FieldError):
        return [(loc + (error.field,), str(error), False)]
    return [_finding(cls, err)]


def _finding(cls: type, err: dict[str, Any]) -> Finding:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "unexpected_keyword_argument":
        allowed = [f.name for f in dataclasses.fields(_owner(cls, loc)) if f.name != "path"]
        return _clean_union_loc(loc), f"unknown field{did_you_mean(str(loc[-1]), allowed)}", True
    if kind in ("missing", "missing_argument"):
        return loc[:-1], f"missing required field `{loc[-1]}`", True
    message = err["msg"]
    if not isinstance(err.get("input"), (dict, list)):
        message += f" (got {json.dumps(err.get('input'))})"
    return _clean_union_loc(loc), message, False


def _clean_union_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic adds the union member's type to a location (`command.str`); drop it."""
    return tuple(part for part in loc if not (isinstance(part, str) and (
        part in _SCALAR_MEMBERS or part in _RECORD_MEMBERS or part.startswith(("tuple[", "function-")))))


def _owner(cls: type, loc: tuple[Any, ...]) -> type:
    """The record type that holds the last field of `loc`."""
    for part in loc[:-1]:
        if isinstance(part, str) and part in _NESTED:
            cls = _NESTED[part]
    return cls
