"""Job specs: loading, overrides, placement, and one clear line for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobspec import load_jobspec, place
from accelctl.core.problems import ProblemsFound
from accelctl.errors import InvalidInput
from tests.conftest import REPO, run_accelctl


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def problems(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(ProblemsFound) as exc:
        load_jobspec(path, overrides)
    return [str(p) for p in exc.value.problems]


def test_examples_load() -> None:
    for path in sorted((REPO / "jobs").glob("*.yaml")):
        spec = load_jobspec(path)
        assert spec.name and spec.entrypoint


def test_overrides_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ncommand: echo hi\n")
    spec = load_jobspec(path, ["count=2", "env.SEED=x", "resources.memory=4Gi", "timeout=10m"])
    assert spec.count == 2 and spec.env == {"SEED": "x"} and spec.resources.memory_bytes == 4 * 2**30
    assert spec.timeout_s == 600


def test_bad_fields_point_at_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: Bad_Name\ncommand: echo\ncount: 0\nacclerator: H100\ntimeout: soon\n")
    found = problems(path)
    assert f'{path}:4:1: acclerator: unknown field (did you mean "accelerator"?)' in found
    path = write(tmp_path, "name: ok\ncommand: echo\ncount: 0\nworkdir: nope\n")
    assert problems(path) == [f"{path}:3:8: count: must be at least 1 (got 0)"]
    path = write(tmp_path, "name: ok\ncommand: echo\nworkdir: nope\n")
    assert problems(path) == [f'{path}:3:10: workdir: "nope" is not a directory ({tmp_path / "nope"})']
    assert problems(write(tmp_path, "name: ok\ncommand: echo\n"), "count=-1") == [
        "--set: count: must be at least 1 (got -1)"]


def test_placement_reasons_and_did_you_mean(tmp_path: Path) -> None:
    inv = load_inventory()
    spec = load_jobspec(write(tmp_path, "name: t\naccelerator: v5p\ncount: 4\ncommand: echo\n"))
    with pytest.raises(InvalidInput) as exc:
        place(spec, inv)
    message = str(exc.value)
    for pool in inv.pools:
        assert f"{pool.name}: " in message
    assert "local: has cpu, not google-tpu-v5p" in message
    with pytest.raises(InvalidInput, match='unknown pool "locl" \\(did you mean "local"\\?\\)'):
        place(spec, inv, "locl")
    bad = load_jobspec(write(tmp_path, "name: t\naccelerator: H1000\ncommand: echo\n"))
    with pytest.raises(InvalidInput, match='unknown accelerator "H1000"'):
        place(bad, inv)
    assert place(load_jobspec(REPO / "jobs" / "hello.yaml"), inv).pool.name == "local"


def test_cli_bad_spec_exit_2_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ncommand: echo\npool: nowhere\n")
    r = run_accelctl("submit", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and 'unknown pool "nowhere"' in r.stderr
    missing = run_accelctl("submit", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    dry = run_accelctl("submit", "--dry-run", str(REPO / "jobs" / "hello.yaml"), "-o", "json")
    assert dry.returncode == 0 and '"pool": "local"' in dry.stdout
