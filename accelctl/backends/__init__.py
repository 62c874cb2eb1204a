"""The registry of backends: pool kind -> the class that runs jobs there (imported lazily).

Adding a backend is one module behind the contract in `base.py`, one line here and one
entry in the contract test suite. Nothing else in accelctl branches on a backend's name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from accelctl.errors import InvalidInput

if TYPE_CHECKING:
    from accelctl.backends.base import Backend
    from accelctl.core.pools import Pool
    from accelctl.core.store import JobRecord

# Pool kind (`backend:` in the inventory) -> "module:Class"; None: described in the
# inventory, not runnable yet.
BACKENDS: dict[str, str | None] = {
    "local": "accelctl.backends.ray:LocalBackend",
    "ray": "accelctl.backends.ray:RayBackend",
    "kubernetes": "accelctl.backends.kubernetes:KubernetesBackend",
    "ssh": "accelctl.backends.ssh:SshBackend",
}


def backend_class(kind: str) -> type[Backend]:
    """The class for pools of `kind`; InvalidInput for a kind that cannot run jobs yet."""
    path = BACKENDS.get(kind)
    if path is None:
        runnable = ", ".join(k for k, v in BACKENDS.items() if v)
        raise InvalidInput(f"the {kind} backend is not available yet", f"use a pool of kind {runnable}")
    module, _, name = path.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


def backend_for(pool: Pool) -> Backend:
    """The backend for `pool`, built without I/O (`ensure_ready` starts what must run)."""
    try:
        return backend_class(pool.backend).from_pool(pool)
    except InvalidInput as e:
        raise InvalidInput(f'pool "{pool.name}": {e.message}', e.hint) from None


def backend_of(record: JobRecord) -> Backend:
    """The backend a stored job was submitted to, rebuilt from the job's target."""
    return backend_class(record.backend).from_target(record.pool, record.target)
