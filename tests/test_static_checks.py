"""The layers, lint and types are part of the suite, so the README's test command checks them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CHECKS = {
    "layers": [sys.executable, "-m", "importlinter.cli", "--no-cache"],
    "lint": [sys.executable, "-m", "ruff", "check", "."],
    "types": [sys.executable, "-m", "mypy"],
}


@pytest.mark.parametrize("check", list(CHECKS))
def test_static_check_is_clean(check: str) -> None:
    done = subprocess.run(CHECKS[check], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
