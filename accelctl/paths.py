"""Where accelctl reads and keeps its files. Nothing is created at import."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "accelctl"
INVENTORY_ENV = "ACCELCTL_INVENTORY"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _dirs() -> PlatformDirs:
    return PlatformDirs(APP_NAME, appauthor=False)


def config_dir() -> Path:
    """The user's config dir (XDG_CONFIG_HOME/accelctl on Linux)."""
    return Path(_dirs().user_config_dir)


def state_dir() -> Path:
    """The user's state dir (XDG_STATE_HOME/accelctl): job store, local pool state."""
    return Path(_dirs().user_state_dir)


def cache_dir() -> Path:
    """The user's cache dir (XDG_CACHE_HOME/accelctl)."""
    return Path(_dirs().user_cache_dir)


def bundled_inventory() -> Path:
    """The inventory shipped with accelctl.

    A wheel carries it as accelctl/data/inventory.yaml; a source checkout (editable
    install) keeps it at the repository root.
    """
    packaged = _PACKAGE_DIR / "data" / "inventory.yaml"
    if packaged.is_file():
        return packaged
    return _PACKAGE_DIR.parent / "inventory.yaml"


def user_overlay(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The user's overlay inventory, by precedence: --inventory, $ACCELCTL_INVENTORY,
    then <config dir>/inventory.yaml if it exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(INVENTORY_ENV)
    if env:
        return Path(env)
    default = config_dir() / "inventory.yaml"
    return default if default.is_file() else None
