"""Fixtures of the CLI tests that run a local pool of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.localpool import PoolHome, pool_home


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[PoolHome]:
    """A user with XDG dirs of their own (this process's too: a TUI in the test is the same
    user); the local pool it starts is stopped and its files removed afterwards."""
    with pool_home("acl-") as the_home:
        for key, value in the_home.env.items():
            monkeypatch.setenv(key, value)
        yield the_home
