"""The discovery documents kubectl asks for before it does anything: versions, groups and
the resources of each group version, and an OpenAPI v3 outline: no schemas, but the
create operations say they take `fieldValidation`, so `kubectl apply` leaves schema
checks to the server (this one's `validation.py`)."""

from __future__ import annotations

from typing import Any

from tests.kubeapi.store import RESOURCES

_VERBS = ["create", "delete", "get", "list", "patch", "watch"]
_SHORT = {"pods": ["po"], "services": ["svc"], "events": ["ev"], "namespaces": ["ns"], "nodes": ["no"], "jobs": [],
          "secrets": []}
VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-accelctl-test-double", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2026-11-28T00:00:00Z", "goVersion": "go1.22.0",
           "compiler": "gc", "platform": "linux/amd64"}


def _resources(api_version: str) -> dict[str, Any]:
    listed = []
    for plural, (kind, version, namespaced) in RESOURCES.items():
        if version != api_version:
            continue
        listed.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                       "verbs": _VERBS, "shortNames": _SHORT[plural]})
        if plural == "pods":
            listed.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                           "verbs": ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": listed}


def document(path: str, server_url: str) -> Any | None:
    """The discovery document at `path`, or None for a resource path."""
    path = path.rstrip("/") or "/"
    if path == "/version":
        return VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_url.split("://", 1)[1]}]}
    if path == "/apis":
        batch = {"groupVersion": "batch/v1", "version": "v1"}
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "batch", "versions": [batch], "preferredVersion": batch}]}
    if path == "/api/v1":
        return _resources("v1")
    if path == "/apis/batch/v1":
        return _resources("batch/v1")
    if path == "/apis/batch":
        batch = {"groupVersion": "batch/v1", "version": "v1"}
        return {"kind": "APIGroup", "apiVersion": "v1", "name": "batch", "versions": [batch],
                "preferredVersion": batch}
    if path == "/openapi/v3":
        return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash=0"} for gv in ("api/v1", "apis/batch/v1")}}
    if path in ("/openapi/v3/api/v1", "/openapi/v3/apis/batch/v1"):
        return _openapi(path.removeprefix("/openapi/v3/"))
    return None


def _openapi(group_path: str) -> dict[str, Any]:
    api_version = group_path.removeprefix("api/").removeprefix("apis/")
    group, _, version = api_version.rpartition("/")
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation", "pretty")]
    for plural, (kind, resource_version, namespaced) in RESOURCES.items():
        if resource_version != api_version:
            continue
        gvk = {"group": group, "version": version, "kind": kind}
        prefix = f"/{group_path}/namespaces/{{namespace}}/{plural}" if namespaced else f"/{group_path}/{plural}"
        ref = {"$ref": f"#/components/schemas/{kind}"}
        # client-go looks for `fieldValidation` on the kind's PATCH operation (older: on the
        # path item of its POST), found by the x-kubernetes-group-version-kind extension.
        body = {"content": {"application/json": {"schema": ref}}}
        answer = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        paths[prefix] = {"parameters": params,
                         "post": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "post",
                                  "operationId": f"create{kind}", "parameters": params, "requestBody": body,
                                  "responses": answer}}
        paths[prefix + "/{name}"] = {"parameters": params,
                                     "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                                               "operationId": f"patch{kind}", "parameters": params,
                                               "requestBody": body, "responses": answer}}
        schemas[kind] = {"type": "object", "x-kubernetes-group-version-kind": [gvk]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (test double)", "version": "v1.31.0"},
            "paths": paths, "components": {"schemas": schemas}}
