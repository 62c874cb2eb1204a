"""The test API server's object store: objects by kind, namespace and name, a global
resourceVersion, label and field selectors, and the event history that watches replay."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from typing import Any

# resource (URL plural) -> (kind, apiVersion, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("Pod", "v1", True),
    "services": ("Service", "v1", True),
    "secrets": ("Secret", "v1", True),
    "events": ("Event", "v1", True),
    "namespaces": ("Namespace", "v1", False),
    "nodes": ("Node", "v1", False),
    "jobs": ("Job", "batch/v1", True),
}
HISTORY = 200_000  # watch events kept; an older resourceVersion gets 410 Gone


class ApiError(Exception):
    """An answer that is a Kubernetes Status object with an error code."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def group_of(resource: str) -> str:
    api_version = RESOURCES[resource][1]
    return api_version.split("/")[0] if "/" in api_version else ""


def not_found(resource: str, name: str) -> ApiError:
    group = group_of(resource)
    plural = f"{resource}.{group}" if group else resource
    return ApiError(404, "NotFound", f'{plural} "{name}" not found',
                    {"name": name, "group": group, "kind": resource})


def match_labels(labels: dict[str, str], selector: str | None) -> bool:
    """Equality-based selectors: k=v, k==v, k!=v, k, !k (comma-separated, all must hold)."""
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def match_fields(obj: dict[str, Any], selector: str | None) -> bool:
    """Field selectors on dotted paths (metadata.name, involvedObject.name, reason, status.phase)."""
    if not selector:
        return True
    for term in selector.split(","):
        negate = "!=" in term
        path, value = term.split("!=" if negate else "=", 1)
        path = path.strip().lstrip("=")
        value = value.lstrip("=").strip()
        found: Any = obj
        for part in path.split("."):
            found = found.get(part, "") if isinstance(found, dict) else ""
        if (str(found) == value) == negate:
            return False
    return True


class Store:
    """Every object the server holds, and the watch history. Thread-safe."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.rv = 1
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, resource, type, object)

    def _record(self, resource: str, kind: str, obj: dict[str, Any]) -> None:
        self.history.append((self.rv, resource, kind, copy.deepcopy(obj)))
        if len(self.history) > HISTORY:
            del self.history[: len(self.history) - HISTORY]
        self.changed.notify_all()

    def _stamp(self, resource: str, obj: dict[str, Any]) -> None:
        kind, api_version, _ = RESOURCES[resource]
        obj["kind"], obj["apiVersion"] = kind, api_version
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def create(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name", "")
        with self.changed:
            key = (resource, namespace, name)
            if key in self.objects:
                group = group_of(resource)
                plural = f"{resource}.{group}" if group else resource
                raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists',
                               {"name": name, "group": group, "kind": resource})
            if RESOURCES[resource][2]:
                meta["namespace"] = namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta.setdefault("generation", 1)
            self._stamp(resource, obj)
            self.objects[key] = obj
            self._record(resource, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.changed:
            obj = self.objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(resource, namespace, name)
        except ApiError:
            return None

    def list(self, resource: str, namespace: str | None, labels: str | None = None,
             fields: str | None = None) -> tuple[list[dict[str, Any]], int]:
        with self.changed:
            items = [copy.deepcopy(o) for (r, ns, _), o in sorted(self.objects.items())
                     if r == resource and (namespace is None or ns == namespace)
                     and match_labels(o["metadata"].get("labels") or {}, labels) and match_fields(o, fields)]
            return items, self.rv

    def update(self, resource: str, namespace: str, name: str, change: Any) -> dict[str, Any]:
        """Apply `change(obj)` to the stored object in place, as one new resourceVersion."""
        with self.changed:
            obj = self.objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            change(obj)
            self._stamp(resource, obj)
            self._record(resource, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.changed:
            obj = self.objects.pop((resource, namespace, name), None)
            if obj is None:
                raise not_found(resource, name)
            self._stamp(resource, obj)
            self._record(resource, "DELETED", obj)
            return copy.deepcopy(obj)

    def events_after(self, rv: int, resource: str, namespace: str | None, labels: str | None,
                     fields: str | None, timeout: float) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        """Watch events of `resource` after `rv`, waiting up to `timeout` for one; (events, last rv)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            if self.history and rv < self.history[0][0] - 1:
                raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.history[0][0]})")
            while True:
                found = [(kind, copy.deepcopy(o)) for r_v, res, kind, o in self.history
                         if r_v > rv and res == resource
                         and (namespace is None or o["metadata"].get("namespace") == namespace)
                         and match_labels(o["metadata"].get("labels") or {}, labels) and match_fields(o, fields)]
                if found or time.monotonic() >= deadline:
                    return found, self.rv
                self.changed.wait(max(0.0, min(1.0, deadline - time.monotonic())))
