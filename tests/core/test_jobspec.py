"""Job specs: loading, overrides, placement, and one clear line for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelctl.core.inventory import load_inventory
from accelctl.core.jobspec import load_jobspec
from accelctl.core.placement import place, shape
from accelctl.core.plain import to_plain
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
    assert r.returncode == 2 and r.stderr == f'{path}:3:7: pool: unknown pool "nowhere"; see `accelctl pools`\n'
    missing = run_accelctl("submit", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    dry = run_accelctl("submit", "--dry-run", str(REPO / "jobs" / "hello.yaml"), "-o", "json")
    assert dry.returncode == 0 and '"pool": "local"' in dry.stdout


@pytest.mark.parametrize(("body", "message"), [
    ("accelerator: nvidia-h1000\n", '2:14: accelerator: unknown accelerator "nvidia-h1000" (did you mean "nvidia-h'),
    ("accelerator: v5e\ntopology: 3x3\n", "3:11: topology: google-tpu-v5e has no 3x3 slice; valid: 1x1, 2x2, 2x4, 4x4"),
    ("accelerator: v5e\ntopology: 4x4\ncount: 8\n",
     "4:8: count: a 4x4 google-tpu-v5e slice has 4 chip(s) on each of 4 host(s); set count: 4"),
    ("accelerator: v4\ntopology: 2x2x1\nnodes: 2\n", "4:8: nodes: a 2x2x1 google-tpu-v4 slice has 4 chip(s)"),
    ("accelerator: L4\ntopology: 2x2\n", "3:11: topology: nvidia-l4 has no slice topology"),
    ("accelerator: trn1\ncount: 32\n", "3:8: count: aws-trainium hosts have at most 16 chips (trn1.32xlarge)"),
])
def test_spec_problems_found_at_placement_are_located(tmp_path: Path, body: str, message: str) -> None:
    """submit, --dry-run and validate all name the file, line and column of the field at fault."""
    path = write(tmp_path, "name: t\n" + body + "command: echo\n")
    for args in (("submit",), ("submit", "--dry-run"), ("validate",)):
        r = run_accelctl(*args, str(path))
        assert r.returncode == 2 and r.stderr.startswith(f"{path}:{message}"), (args, r.stderr)
        summary = ["accelctl: error: 1 problem(s) in 1 file(s)"] if args == ("validate",) else []
        assert r.stderr.splitlines()[1:] == summary and "Traceback" not in r.stderr


def test_validate_checks_job_specs_and_warns_when_no_pool_fits() -> None:
    specs = sorted(str(p) for p in (REPO / "jobs").glob("*.yaml"))
    r = run_accelctl("validate", *specs)
    assert r.returncode == 0 and r.stdout.splitlines() == [f"{s}: ok" for s in specs]
    assert "warning: " + str(REPO / "jobs" / "tpu-v5e-single.yaml") + ": no pool fits jax-v5e-single" in r.stderr


def test_a_topology_decides_count_and_nodes(tmp_path: Path) -> None:
    inv = load_inventory(use_cache=False)
    spec = load_jobspec(write(tmp_path, "name: t\naccelerator: v5e\ntopology: 4x4\ncommand: echo\n"))
    placement = place(spec, inv, "gke-tpu-v5e")
    assert (placement.count, placement.nodes) == (4, 4)
    single = load_jobspec(write(tmp_path, "name: t\naccelerator: v6e\ntopology: 2x4\ncommand: echo\n"))
    assert shape(single, "google-tpu-v6e-trillium") == (8, 1)


def test_every_problem_of_a_file_in_one_pass(tmp_path: Path) -> None:
    """Range checks of one record, a dangling reference and a bad duration all show at once."""
    overlay = write(tmp_path, "accelerators:\n  - {id: my-chip, name: Mine, vendor: Me, kind: gpu, memory_gb: -5,"
                              " tdp_w: -3, sources: [{url: 'https://example.com', covers: [memory_gb, tdp_w]}]}\n"
                              "reading:\n  - {url: 'https://example.com/a', accelerators: [nope]}\n")
    r = run_accelctl("validate", str(overlay))
    assert [line.split(": ", 2)[1] for line in r.stderr.splitlines()[:-1]] == [
        "accelerators[0].memory_gb", "accelerators[0].tdp_w", "reading[0].accelerators[0]"]
    spec = write(tmp_path, "name: t\naccelerator: H1000\ntimeout: 10 minutes\ncount: 0\ncommand: echo\n")
    for args in (("validate",), ("submit", "--dry-run")):
        r = run_accelctl(*args, str(spec))
        assert [line.split(": ", 2)[1] for line in r.stderr.splitlines() if line.startswith(str(spec))] == [
            "accelerator", "timeout", "count"], (args, r.stderr)


def test_env_references_load_and_only_references_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("name: j\ncommand: echo\nenv:\n  A: plain\n  B: {from_env: MY_B}\n  C: {secret: creds, key: c}\n")
    spec = load_jobspec(path)
    assert spec.plain_env == {"A": "plain"} and set(spec.env_refs) == {"B", "C"}
    assert spec.secret_values({"MY_B": "value-b"}) == {"B": "value-b"}
    assert to_plain(spec)["env"] == {"A": "plain", "B": {"from_env": "MY_B"}, "C": {"secret": "creds", "key": "c"}}
    with pytest.raises(ProblemsFound) as e:
        spec.secret_values({})
    assert str(e.value) == f"{path}:5:6: env.B: $MY_B is not set in this shell; export MY_B=... before submitting"


@pytest.mark.parametrize(("value", "message"), [
    ("{}", "env.X.secret: give either `secret: NAME` (a Kubernetes Secret) or `from_env: VAR`"),
    ("{secret: a, from_env: B}", "env.X.secret: give either"),
    ("{from_env: 'A B'}", 'env.X.from_env: "A B" is not an environment variable name'),
    ("{secret: Creds}", 'env.X.secret: "Creds" is not a Secret name'),
    ("{from_env: A, key: k}", "env.X.key: `key` goes with `secret:`"),
    ("{form_env: A}", 'env.X.form_env: unknown field (did you mean "from_env"?)'),
    ("3", "env.X: Input should be a valid string, or {from_env: VAR} or {secret: NAME} (got 3)"),
])
def test_bad_env_references_get_one_clear_message(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"name: j\ncommand: echo\nenv:\n  X: {value}\n")
    with pytest.raises(ProblemsFound) as e:
        load_jobspec(path)
    assert len(e.value.problems) == 1 and message in str(e.value)
