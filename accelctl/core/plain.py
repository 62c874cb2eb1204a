"""Records as plain data (dicts, lists, scalars): for JSON, YAML and the job store."""

from __future__ import annotations

import dataclasses
from typing import Any


def to_plain(value: Any) -> Any:
    """Dataclasses, tuples and the like -> JSON-ready dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if getattr(value, "PLAIN_OMITS_NONE", False):  # written as the user would: {from_env: VAR}
            return {k: v for k, v in fields.items() if v is not None}
        return fields
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
