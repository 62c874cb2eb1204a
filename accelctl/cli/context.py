"""State shared by every command of one accelctl run."""

from __future__ import annotations

from typing import Any

import click


class Context:
    """What every command shares: the overlay path and a lazily loaded inventory."""

    def __init__(self, inventory_path: str | None) -> None:
        self.inventory_path = inventory_path
        self._inventory: Any = None

    @property
    def inventory(self) -> Any:
        """The merged inventory (bundled + overlay), loaded on first use."""
        if self._inventory is None:
            from accelctl import paths
            from accelctl.core.inventory import load_inventory

            self._inventory = load_inventory(paths.user_overlay(self.inventory_path))
        return self._inventory


pass_ctx = click.make_pass_decorator(Context)
