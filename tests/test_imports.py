"""Layer and start-up hygiene, checked in fresh interpreters (sys.modules does not lie)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("ray", "kubernetes", "paramiko", "textual")


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}


def run_cli_code(*args: str) -> str:
    argv = ", ".join(repr(a) for a in args)
    return (f"import sys\nfrom accelctl.cli.main import run\nsys.argv = ['accelctl', {argv}]\n"
            "try:\n    run()\nexcept SystemExit:\n    pass")


@pytest.mark.parametrize("args", [("ls",), ("--help",), ("ls", "-o", "json"), ("show", "H100")])
def test_fast_paths_do_not_load_heavy_libraries(args: tuple[str, ...]) -> None:
    subprocess.run([sys.executable, "-m", "accelctl", "ls"], capture_output=True, check=True)  # warm the cache
    loaded = loaded_after(run_cli_code(*args))
    assert not loaded & set(HEAVY)
    assert "pydantic" not in loaded  # validation runs only when the cache is cold


def test_core_is_pure() -> None:
    loaded = loaded_after("import accelctl.core.inventory, accelctl.core.query, accelctl.core.models, "
                          "accelctl.core.yaml_source")
    assert not loaded & {*HEAVY, "rich", "click"}
