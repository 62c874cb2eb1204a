"""The checks the real API server makes that matter to accelctl: required fields and valid
values (422 Invalid, with the real message format), and unknown fields under
fieldValidation=Strict (400 BadRequest "strict decoding error"). A subset of the
upstream schema, enough to catch what a renderer gets wrong."""

from __future__ import annotations

import re
from typing import Any

from tests.kubeapi.store import RESOURCES, ApiError, group_of

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")

_META = {"name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
         "creationTimestamp", "deletionTimestamp", "ownerReferences", "finalizers", "managedFields",
         "deletionGracePeriodSeconds", "selfLink"}
_CONTAINER = {"name", "image", "command", "args", "workingDir", "env", "envFrom", "resources", "ports",
              "volumeMounts", "imagePullPolicy", "securityContext", "livenessProbe", "readinessProbe",
              "startupProbe", "lifecycle", "stdin", "tty", "terminationMessagePath", "terminationMessagePolicy",
              "volumeDevices", "resizePolicy", "restartPolicy", "stdinOnce"}
_POD_SPEC = {"containers", "initContainers", "restartPolicy", "nodeSelector", "tolerations", "affinity",
             "volumes", "hostname", "subdomain", "serviceAccountName", "serviceAccount", "imagePullSecrets",
             "priorityClassName", "priority", "schedulerName", "securityContext", "hostIPC", "hostNetwork",
             "hostPID", "dnsPolicy", "dnsConfig", "nodeName", "terminationGracePeriodSeconds",
             "activeDeadlineSeconds", "automountServiceAccountToken", "enableServiceLinks", "runtimeClassName",
             "shareProcessNamespace", "topologySpreadConstraints", "setHostnameAsFQDN", "preemptionPolicy",
             "overhead", "readinessGates", "hostAliases", "ephemeralContainers", "os", "schedulingGates",
             "resourceClaims", "hostUsers", "resources"}
_JOB_SPEC = {"template", "completions", "parallelism", "completionMode", "backoffLimit", "backoffLimitPerIndex",
             "maxFailedIndexes", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "suspend", "selector",
             "manualSelector", "podFailurePolicy", "podReplacementPolicy", "successPolicy", "managedBy"}
_SERVICE_SPEC = {"selector", "clusterIP", "clusterIPs", "ports", "type", "publishNotReadyAddresses",
                 "sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "externalName"}
_TOP = {"apiVersion", "kind", "metadata", "spec", "status"}
_SECRET_TOP = {"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"}
_EVENT_TOP = _TOP | {"involvedObject", "reason", "message", "type", "source", "firstTimestamp", "lastTimestamp",
                     "count", "eventTime", "reportingComponent", "reportingInstance", "action", "related",
                     "series"}


def _unknown(obj: Any, allowed: set[str], path: str, found: list[str]) -> None:
    if isinstance(obj, dict):
        found.extend(f"{path}{k}" for k in obj if k not in allowed)


def unknown_fields(resource: str, obj: dict[str, Any]) -> list[str]:
    """Field paths the schema does not know (checked where accelctl writes)."""
    found: list[str] = []
    _unknown(obj, {"events": _EVENT_TOP, "secrets": _SECRET_TOP}.get(resource, _TOP), "", found)
    _unknown(obj.get("metadata"), _META, "metadata.", found)
    spec = obj.get("spec") or {}
    pod_spec, prefix = None, ""
    if resource == "jobs":
        _unknown(spec, _JOB_SPEC, "spec.", found)
        template = spec.get("template") or {}
        _unknown(template, {"metadata", "spec"}, "spec.template.", found)
        pod_spec, prefix = template.get("spec"), "spec.template.spec."
    elif resource == "pods":
        pod_spec, prefix = spec, "spec."
    elif resource == "services":
        _unknown(spec, _SERVICE_SPEC, "spec.", found)
    if isinstance(pod_spec, dict):
        _unknown(pod_spec, _POD_SPEC, prefix, found)
        for i, c in enumerate(pod_spec.get("containers") or []):
            _unknown(c, _CONTAINER, f"{prefix}containers[{i}].", found)
            _unknown(c.get("resources"), {"limits", "requests", "claims"}, f"{prefix}containers[{i}].resources.",
                     found)
    return found


def _pod_spec_errors(spec: Any, path: str, job: bool) -> list[str]:
    errors: list[str] = []
    if not isinstance(spec, dict):
        return [f"{path}: Required value"]
    containers = spec.get("containers")
    if not containers:
        errors.append(f"{path}.containers: Required value")
    for i, c in enumerate(containers or []):
        where = f"{path}.containers[{i}]"
        name = c.get("name") if isinstance(c, dict) else None
        if not name:
            errors.append(f"{where}.name: Required value")
        elif not _DNS_LABEL.match(str(name)) or len(str(name)) > 63:
            errors.append(f'{where}.name: Invalid value: "{name}": a lowercase RFC 1123 label must consist of '
                          "lower case alphanumeric characters or '-'")
        if not isinstance(c, dict) or not c.get("image"):
            errors.append(f"{where}.image: Required value")
            continue
        resources = c.get("resources") or {}
        for part in ("limits", "requests"):
            for key, value in (resources.get(part) or {}).items():
                if not _QUANTITY.match(str(value)):
                    errors.append(f'{where}.resources.{part}[{key}]: Invalid value: "{value}": must match the '
                                  "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        for j, var in enumerate(c.get("env") or []):
            if not isinstance(var, dict) or not var.get("name"):
                errors.append(f"{where}.env[{j}].name: Required value")
    policy = spec.get("restartPolicy", "Always")
    if job and policy not in ("Never", "OnFailure"):
        errors.append(f'{path}.restartPolicy: Unsupported value: "{policy}": supported values: "OnFailure", "Never"')
    return errors


def invalid_fields(resource: str, obj: dict[str, Any]) -> list[str]:
    """Messages in the real server's "field: problem" form, for a 422."""
    errors: list[str] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or ""
    if not name:
        errors.append("metadata.name: Required value: name or generateName is required")
    elif resource != "events" and (not _DNS_SUBDOMAIN.match(name.rstrip("-")) or len(name) > 253):
        errors.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                      "lower case alphanumeric characters, '-' or '.'")
    for value in (meta.get("labels") or {}).values():
        if len(str(value)) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", str(value)):
            errors.append(f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string or '
                          "consist of alphanumeric characters, '-', '_' or '.'")
    spec = obj.get("spec")
    if resource == "jobs":
        if not isinstance(spec, dict):
            return [*errors, "spec: Required value"]
        if resource == "jobs" and len(name) > 63 and spec.get("completionMode") == "Indexed":
            errors.append(f'metadata.name: Invalid value: "{name}": must be no more than 63 characters')
        for key in ("completions", "parallelism", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            value = spec.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                errors.append(f"spec.{key}: Invalid value: {value!r}: must be greater than or equal to 0")
        if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
            errors.append(f'spec.completionMode: Unsupported value: "{spec["completionMode"]}": supported values: '
                          '"NonIndexed", "Indexed"')
        if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
            errors.append("spec.completions: Required value: when completion mode is Indexed")
        errors += _pod_spec_errors((spec.get("template") or {}).get("spec"), "spec.template.spec", job=True)
    elif resource == "pods":
        errors += _pod_spec_errors(spec, "spec", job=False)
    elif resource == "services" and isinstance(spec, dict):
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port.get("port"), int):
                errors.append(f"spec.ports[{i}].port: Required value")
    return errors


def check(resource: str, obj: dict[str, Any], strict: bool) -> None:
    """Raise the ApiError the real server answers for an object it would not store."""
    kind = RESOURCES[resource][0]
    group = group_of(resource)
    qualified = f"{kind}.{group}" if group else kind
    name = (obj.get("metadata") or {}).get("name", "")
    if strict:
        unknown = unknown_fields(resource, obj)
        if unknown:
            detail = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise ApiError(400, "BadRequest", f"strict decoding error: {detail}")
    errors = invalid_fields(resource, obj)
    if errors:
        causes = [{"reason": "FieldValueInvalid", "message": e.split(": ", 1)[1], "field": e.split(": ", 1)[0]}
                  for e in errors]
        listing = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listing}',
                       {"name": name, "group": group, "kind": kind, "causes": causes})
