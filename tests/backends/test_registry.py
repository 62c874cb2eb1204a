"""The registry is the one place that knows backend names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from accelctl.backends import BACKENDS, backend_class, backend_for
from accelctl.backends.base import Backend
from accelctl.core.inventory import load_inventory
from accelctl.core.pools import POOL_TYPES
from accelctl.errors import InvalidInput

PACKAGE = Path(__file__).resolve().parents[2] / "accelctl"


def test_every_pool_kind_the_inventory_accepts_has_a_registry_entry() -> None:
    assert set(BACKENDS) == set(POOL_TYPES)


def test_runnable_kinds_load_a_backend_of_their_own_kind() -> None:
    for kind, path in BACKENDS.items():
        if path is None:
            with pytest.raises(InvalidInput, match=f"the {kind} backend is not available yet"):
                backend_class(kind)
            continue
        cls = backend_class(kind)
        assert issubclass(cls, Backend) and cls.kind == kind


def test_building_a_backend_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable pool of the bundled inventory gets its backend without a network or a process."""
    import socket
    import subprocess

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("building a backend must not connect or start a process")

    inventory = load_inventory(use_cache=False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    for pool in inventory.pools:
        if BACKENDS[pool.backend]:
            backend = backend_for(pool)
            assert backend.pool_name == pool.name


def test_no_code_outside_the_registry_branches_on_a_backend_name() -> None:
    """No `... == "ray"`-style comparison or `in ("local", ...)` test on backend names in the package."""
    names = set(BACKENDS)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "backends" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                constants = [c for c in [node.left, *node.comparators] if isinstance(c, (ast.Constant, ast.Tuple))]
                values = {getattr(c, "value", None) for c in constants} | {
                    getattr(e, "value", None) for c in constants if isinstance(c, ast.Tuple) for e in c.elts}
                if values & names:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
