"""Shared fixtures: every test runs with its own XDG dirs and no user overlay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh XDG config/cache/state dirs; no overlay, no colour settings leaking in."""
    home = tmp_path_factory.mktemp("xdg")
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.delenv("ACCELCTL_INVENTORY", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `accelctl ARGS...` in-process through the real entry point; returns Result."""
    from accelctl.cli.main import run

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["accelctl", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            run()
        captured = capsys.readouterr()
        code = exc.value.code
        return Result(code if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


def run_accelctl(*args: str, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """Run accelctl in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "accelctl.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)
