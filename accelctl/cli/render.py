"""`accelctl render`: Kubernetes manifests for a job spec, for `kubectl apply -f -`.

No cluster, no network and no `kubernetes` import: the spec is placed on a pool as
`submit` would place it, and `backends.k8s_manifests` turns it into plain dicts.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from accelctl.cli.context import Context, pass_ctx
from accelctl.errors import AccelctlError

if TYPE_CHECKING:
    from accelctl.backends.k8s_manifests import PoolProblem

# The id a rendered job carries before it is submitted (submit gives each job its own).
RENDER_JOB_ID = "render"


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--pool", metavar="P", help="Render for this Kubernetes pool (default: the spec's, else the first "
                                          "that fits).")
@click.option("-o", "--output", "fmt", type=click.Choice(("yaml", "json")), default="yaml", show_default=True,
              help="YAML documents separated by ---, or one JSON v1 List.")
@click.option("--jobset", is_flag=True, help="Render a JobSet (jobset.x-k8s.io/v1alpha2), e.g. for multislice TPU.")
@click.option("--slices", type=click.IntRange(min=1), default=1, show_default=True,
              help="TPU slices of the JobSet (with --jobset).")
@click.option("--rayjob", is_flag=True, help="Render a KubeRay RayJob (ray.io/v1) instead.")
@click.option("--job-id", default=RENDER_JOB_ID, show_default=True, metavar="ID",
              help="The accelctl job id in names and labels.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a spec field (repeatable), e.g. --set count=2.")
@pass_ctx
def render(ctx: Context, spec_path: str, pool: str | None, fmt: str, jobset: bool, slices: int, rayjob: bool,
           job_id: str, overrides: tuple[str, ...]) -> None:
    """Print the Kubernetes manifests of a job spec (pipe them to `kubectl apply -f -`).

    One node: a Job; several: a headless Service and an Indexed Job. Exit status 2 when
    the spec cannot run on the pool (the reason, and the file position at fault).
    """
    from accelctl.backends import k8s_manifests as k8s
    from accelctl.core.jobspec import load_jobspec
    from accelctl.core.models import valid_id
    from accelctl.core.placement import place
    from accelctl.errors import InvalidInput

    if jobset and rayjob:
        raise InvalidInput("--jobset and --rayjob are two different renderings; choose one")
    if slices > 1 and not jobset:
        raise InvalidInput("--slices needs --jobset")
    if not valid_id(job_id) or len(job_id) > 20:
        raise InvalidInput(f'--job-id "{job_id}": lowercase letters, digits and "-", at most 20')
    inventory = ctx.inventory
    spec = load_jobspec(spec_path, overrides, inventory)
    placement = place(spec, inventory, pool)
    acc = inventory.find(placement.accelerator)
    resource = acc.kubernetes.resource if acc is not None and acc.kubernetes is not None else None
    try:
        if rayjob:
            objects = k8s.render_rayjob(spec, placement, job_id, resource=resource)
        else:
            objects = k8s.render(spec, placement, job_id, jobset=jobset, resource=resource, slices=slices)
    except k8s.PoolProblem as e:
        raise locate_pool_problem(e, inventory.files) from None
    if fmt == "json":
        sys.stdout.write(json.dumps(k8s.as_list(objects), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(k8s.to_yaml(objects))
    from_env = {name: ref.from_env for name, ref in spec.env_refs.items() if ref.from_env}
    if from_env:
        # `submit` makes this Secret from the caller's environment; a rendered job needs it made by hand.
        secret = k8s.env_secret_name(objects[-1]["metadata"]["name"])
        literals = " ".join(f'--from-literal={name}="${var}"' for name, var in from_env.items())
        sys.stderr.write(f"note: the job reads {', '.join(from_env)} from Secret {secret}; before applying, "
                         f"create it: kubectl create secret generic {secret} {literals}\n")


def locate_pool_problem(error: PoolProblem, files: tuple[str, ...]) -> AccelctlError:
    """The pool problem pinned to the pool's field in the last inventory file that sets it
    (`path:line:column`), or the error as it is when no file names the pool."""
    from accelctl.core.problems import Problem, ProblemsFound
    from accelctl.core.yaml_source import load_yaml_file

    for path in reversed(files):
        try:
            doc = load_yaml_file(path)
        except (AccelctlError, OSError):  # unreadable now: the plain message will do
            continue
        pools = doc.data.get("pools") if isinstance(doc.data, dict) else None
        for i, entry in enumerate(pools if isinstance(pools, list) else []):
            if isinstance(entry, dict) and entry.get("name") == error.pool:
                loc = ("pools", i, error.field) if error.field in entry else ("pools", i, "name")
                line, column = doc.position(loc)
                return ProblemsFound([Problem(path, line, column, f"pools[{i}].{error.field}",
                                              f'pool "{error.pool}": {error.reason}')])
    return error

