"""Shell text for a job's environment, shared by the backends that start jobs through a shell."""

from __future__ import annotations

import shlex
from collections.abc import Mapping


def exports(env: Mapping[str, str]) -> str:
    """`export NAME='value'` lines for `env`, every value quoted (names are checked
    identifiers: core.jobspec and core.pools refuse others)."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
