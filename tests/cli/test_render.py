"""`accelctl render`: every example job on every example Kubernetes pool it fits renders and
passes the schema checks; bad combinations are one line, located, exit 2; no `kubernetes`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.backends import k8s_schemas
from tests.conftest import REPO
from tests.test_imports import loaded_after, run_cli_code

JOBS = sorted(p.name for p in (REPO / "jobs").glob("*.yaml"))
K8S_POOLS = ("gke-tpu-v5e", "eks-trn2", "k8s-gpu")
# Jobs with no image of their own (they run on Ray or SSH pools) get one to render on Kubernetes.
IMAGE = "python:3.12-slim"


def fits(job: str, pool: str) -> bool:
    """Whether placement accepts the job on the pool (as `submit` and `render` decide)."""
    from accelctl.core.inventory import load_inventory
    from accelctl.core.jobspec import load_jobspec
    from accelctl.core.placement import place
    from accelctl.errors import InvalidInput

    inventory = load_inventory(None)
    try:
        place(load_jobspec(REPO / "jobs" / job, inventory=inventory), inventory, pool)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize("pool", K8S_POOLS)
@pytest.mark.parametrize("job", JOBS)
def test_every_example_job_on_every_pool_it_fits(cli, monkeypatch, job: str, pool: str) -> None:
    monkeypatch.chdir(REPO)
    if not fits(job, pool):
        pytest.skip(f"{job} does not fit {pool}")
    data = yaml.safe_load((REPO / "jobs" / job).read_text())
    extra = () if data.get("image") else ("--set", f"image={IMAGE}")
    topology_clash = data.get("topology") and pool == "gke-tpu-v5e" and data["topology"] != "4x4"
    r = cli("render", f"jobs/{job}", "--pool", pool, *extra)
    if topology_clash:  # the pool's slice is 4x4: a 2x2 job is refused, at its topology line
        assert r.code == 2 and r.out == "" and f"jobs/{job}:" in r.err and "has 4x4 slices" in r.err
        return
    assert r.code == 0, r.err
    objects = list(yaml.safe_load_all(r.out))
    assert objects and all(k8s_schemas.errors(o) == [] for o in objects)
    as_json = cli("render", f"jobs/{job}", "--pool", pool, "-o", "json", *extra)
    assert as_json.json() == {"apiVersion": "v1", "kind": "List", "items": objects}
    for flag in ("--jobset", "--rayjob"):
        other = cli("render", f"jobs/{job}", "--pool", pool, flag, *extra)
        assert other.code == 0, other.err
        assert all(k8s_schemas.errors(o) == [] for o in yaml.safe_load_all(other.out))


def test_examples_render_what_the_issue_asks(cli, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    service, job = yaml.safe_load_all(cli("render", "jobs/tpu-v5e-multihost.yaml").out)
    assert service["kind"] == "Service" and job["spec"]["completions"] == 4
    trn = cli("render", "jobs/trainium.yaml", "-o", "json").json()["items"][0]
    pod = trn["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"aws.amazon.com/neuron": 16}
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "trn2.48xlarge"}
    gpu = list(yaml.safe_load_all(cli("render", "jobs/gpu-multinode.yaml").out))
    assert gpu[1]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-ml"


def test_missing_image_is_located_exit_2(cli, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    r = cli("render", "jobs/hello.yaml", "--pool", "k8s-gpu")
    assert r.code == 2 and r.out == ""
    assert r.err.strip() == "jobs/hello.yaml:1:1: image: a Kubernetes job needs an `image` (the container to run)"


def test_bad_topology_is_located(cli, tmp_path: Path) -> None:
    spec = tmp_path / "j.yaml"
    spec.write_text("name: j\naccelerator: v5e\ntopology: 2x2x2\nimage: x\ncommand: 'true'\n")
    r = cli("render", str(spec), "--pool", "gke-tpu-v5e")
    assert r.code == 2 and r.err.startswith(f"{spec}:3:11: topology: google-tpu-v5e has no 2x2x2 slice")


def test_pool_problem_points_at_the_pool_field(cli, tmp_path: Path) -> None:
    overlay = tmp_path / "inv.yaml"
    overlay.write_text(
        "pools:\n"
        "- name: trn-small\n"
        "  backend: kubernetes\n"
        "  accelerator: aws-trainium\n"
        "  instance_type: trn1.2xlarge\n"
        "  count: 1\n"
        "  nodes: 2\n")
    spec = tmp_path / "j.yaml"
    spec.write_text("name: j\naccelerator: trn1\nnodes: 2\nimage: x\ncommand: 'true'\n")
    r = cli("--inventory", str(overlay), "render", str(spec), "--pool", "trn-small")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"{overlay}:5:18: pools[0].instance_type: pool \"trn-small\": a trn1.2xlarge has no EFA")
    assert len(r.err.strip().splitlines()) == 1


def test_more_chips_than_the_pool_has(cli, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    r = cli("render", "jobs/gpu-multinode.yaml", "--set", "count=16")
    assert r.code == 2 and "at most" in r.err or "chip(s) per node" in r.err


def test_option_clashes_exit_2(cli, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert cli("render", "jobs/gpu-multinode.yaml", "--jobset", "--rayjob").code == 2
    assert cli("render", "jobs/gpu-multinode.yaml", "--slices", "2").code == 2
    r = cli("render", "jobs/gpu-multinode.yaml", "--job-id", "Bad_ID")
    assert r.code == 2 and "--job-id" in r.err


def test_render_does_not_load_the_kubernetes_client() -> None:
    code = f"import os\nos.chdir({str(REPO)!r})\n" + run_cli_code("render", "jobs/tpu-v5e-multihost.yaml")
    loaded = loaded_after(code)
    assert "kubernetes" not in loaded and "ray" not in loaded and "textual" not in loaded


def test_json_is_one_list(cli, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    data = json.loads(cli("render", "jobs/trainium.yaml", "-o", "json").out)
    assert data["kind"] == "List" and [o["kind"] for o in data["items"]] == ["Job"]


def test_pool_fields_are_validated_with_locations_and_suggestions(cli, tmp_path: Path) -> None:
    overlay = tmp_path / "inv.yaml"
    overlay.write_text(
        "pools:\n"
        "- name: bad-tpu\n"
        "  backend: kubernetes\n"
        "  accelerator: google-tpu-v5e\n"
        "  machine_type: ct5lp-hightpu-4\n"
        "  namespace: Bad_NS\n"
        "  queue: team a\n"
        "  tolerations:\n"
        "  - {key: google.com/tpu, operatr: Exists}\n"
        "- name: bad-tpu2\n"
        "  backend: kubernetes\n"
        "  accelerator: google-tpu-v5e\n"
        "  machine_type: ct5lp-hightpu-8t\n"
        "  topology: 4x4\n"
        "  count: 4\n"
        "  efa: -1\n")
    r = cli("validate", str(overlay))
    assert r.code == 2
    assert f'{overlay}:9:27: pools[0].tolerations[0].operatr: unknown field (did you mean "operator"?)' in r.err
    overlay.write_text(overlay.read_text().replace("operatr", "operator"))
    err = cli("validate", str(overlay)).err
    for line in (f'{overlay}:5:17: pools[0].machine_type: unknown TPU machine type "ct5lp-hightpu-4" '
                 '(did you mean "ct5lp-hightpu-4t"?)',
                 f'{overlay}:6:14: pools[0].namespace: "Bad_NS" is not a namespace name',
                 f'{overlay}:7:10: pools[0].queue: "team a" is not a valid Kueue queue name',
                 f"{overlay}:14:13: pools[1].topology: a ct5lp-hightpu-8t VM has 8 chip(s) and makes single-host "
                 "slices only",
                 f"{overlay}:15:10: pools[1].count: a ct5lp-hightpu-8t VM has 8 chip(s); set count: 8",
                 f"{overlay}:16:8: pools[1].efa: must be at least 0"):
        assert line in err, err


def test_bundled_kubernetes_pools_use_the_new_fields(cli) -> None:
    pools = {p["name"]: p for p in cli("pools", "-o", "json").json()}
    assert pools["gke-tpu-v5e"]["machine_type"] == "ct5lp-hightpu-4t"
    assert pools["eks-trn2"]["instance_type"] == "trn2.48xlarge"
