"""Schema checks of rendered manifests, offline.

Core kinds (Service, Job, List items) go through `kubernetes-validate --strict`, with the
upstream OpenAPI schemas it bundles. JobSet and RayJob are CRDs it does not know: their
`openAPIV3Schema` is taken from the CRDs in the projects' repositories (kept gzipped under
tests/data/k8s/crds/, each file naming the commit it came from) and checked with
`jsonschema`, unknown fields rejected as a server with `fieldValidation=Strict` would.
"""

from __future__ import annotations

import copy
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.30.0"  # the oldest version the issue asks for; >= 1.30
CRDS = Path(__file__).parent.parent / "data" / "k8s" / "crds"
CRD_FILES = {("jobset.x-k8s.io", "JobSet"): "jobset.x-k8s.io_jobsets.json.gz",
             ("ray.io", "RayJob"): "ray.io_rayjobs.json.gz"}


def errors(obj: dict[str, Any]) -> list[str]:
    """Every schema error of one object (empty: valid)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    crd = CRD_FILES.get((group, obj["kind"]))
    if crd is None:
        import kubernetes_validate

        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            return [f"{'.'.join(map(str, e.path))}: {e.message}"]
        return []
    import jsonschema

    validator = jsonschema.Draft7Validator(_strict_schema(crd, version))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def source(crd_file: str) -> str:
    """Where a stored CRD schema came from (repository, commit, path)."""
    return str(_crd(crd_file)["source"])


@cache
def _crd(name: str) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress((CRDS / name).read_bytes())))


@cache
def _strict_schema(name: str, version: str) -> dict[str, Any]:
    schema = copy.deepcopy(_crd(name)["versions"][version])
    _forbid_unknown(schema)
    # apiVersion/kind/metadata: the CRD leaves metadata open; the API server checks it.
    return schema


def _forbid_unknown(node: Any) -> None:
    """additionalProperties: false on every object schema that lists its properties and does
    not keep unknown fields (what strict field validation does on the server)."""
    if isinstance(node, dict):
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_unknown(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown(value)
