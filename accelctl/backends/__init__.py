"""Backends run jobs on pools. Headless: no textual, no click; SDKs load lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from accelctl.backends.base import Backend
    from accelctl.core.models import Pool


def backend_for(pool: Pool, *, progress: Callable[[str], None] | None = None) -> Backend:
    """The backend that runs jobs on `pool`. The local pool is started if needed."""
    from accelctl.errors import InvalidInput

    if pool.backend == "local":
        from accelctl.backends.local import LocalRay
        from accelctl.backends.ray import RayBackend

        return RayBackend(LocalRay().ensure_started(progress), pool_name=pool.name)
    if pool.backend == "ray":
        import os

        from accelctl.backends.ray import RayBackend

        address = pool.address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise InvalidInput(f'pool "{pool.name}" has no address', "set `address:` or $RAY_ADDRESS")
        return RayBackend(address, pool_name=pool.name)
    raise InvalidInput(f'pool "{pool.name}": the {pool.backend} backend is not available yet',
                       "use a local or ray pool")
