"""A TEST DOUBLE of the Kubernetes API server, for accelctl's tests only.

It speaks the real HTTP API (the paths, JSON bodies, Status errors, chunked watch and
log streams) that the `kubernetes` Python client and `kubectl` use, for Jobs, Pods,
Services, Events, Namespaces and Nodes, with just enough discovery for kubectl. Pods
run their container command as local processes (see cluster.py). It is not a cluster:
no container runtime, no networking between pods, no RBAC beyond one bearer token. It serves HTTPS with a
throwaway self-signed certificate (client-go sends tokens only over TLS).

Faults for tests: `forbidden` namespaces answer 403; `cut_follows` holds byte counts after
which the next log follows are cut abruptly (one per connection).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.kubeapi import discovery, tls, validation
from tests.kubeapi.cluster import Cluster, Container, rfc3339nano
from tests.kubeapi.store import RESOURCES, ApiError, Store, group_of

CONTEXT = "accelctl-test"


class KubeAPIServer:
    """The server: `start()` serves on 127.0.0.1 in background threads; `stop()` ends it and
    every pod process."""

    def __init__(self, port: int = 0, token: str | None = None, nodes: list[dict[str, Any]] | None = None) -> None:
        self.token = token or secrets.token_hex(16)
        self.store = Store()
        self.cluster = Cluster(self.store, nodes)
        self.forbidden: set[str] = set()
        self.cut_follows: list[int] = []
        self.requests: list[str] = []  # "METHOD path" of each request, for tests
        for ns in ("default", "kube-system"):
            self.store.create("namespaces", "", {"metadata": {"name": ns}, "status": {"phase": "Active"}})
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.cert, key = tls.self_signed(Path(self.cluster.workdir) / "tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.httpd.api = self  # type: ignore[attr-defined]
        self.stopping = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> KubeAPIServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self.cluster.shutdown()

    def write_kubeconfig(self, path: str | os.PathLike[str], context: str = CONTEXT,
                         namespace: str = "default") -> Path:
        """A kubeconfig (0600) whose context `context` reaches this server with its token."""
        path = Path(path)
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
            "clusters": [{"name": context, "cluster": {
                "server": self.url, "certificate-authority-data": base64.b64encode(self.cert.read_bytes()).decode()}}],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=2)  # JSON is YAML
        return path


class _Server(ThreadingHTTPServer):
    """A client that drops its connection (mid-handshake or mid-request, as the fault tests make
    it) is no error of the server: no traceback for it on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test-double/1"

    @property
    def api(self) -> KubeAPIServer:
        return self.server.api  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    # --- plumbing ---------------------------------------------------------------------

    def _send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "the server could not read the body as JSON "
                           "(this test server speaks JSON only)") from None

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.api.requests.append(f"{method} {url.path}")
        try:
            if url.path in ("/healthz", "/livez", "/readyz"):
                self._send_json(200, "ok")
                return
            if self.headers.get("Authorization") != f"Bearer {self.api.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            static = discovery.document(url.path, self.api.url)
            if static is not None:
                self._send_json(200, static)
                return
            self._resource(method, url.path, query)
        except ApiError as e:
            self._send_json(e.code, e.status())
        except (ConnectionError, ssl.SSLError):  # the client went away mid-answer (fault tests cut it)
            self.close_connection = True

    # --- resources ----------------------------------------------------------------------

    def _route(self, path: str) -> tuple[str, str | None, str | None, str | None]:
        """(resource, namespace, name, subresource) from an API path."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:3] == ["apis", "batch", "v1"]:
            rest = parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in RESOURCES:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = rest[0]
        if (resource == "jobs") != (parts[0] == "apis"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return resource, namespace, name, sub

    def _resource(self, method: str, path: str, query: dict[str, str]) -> None:
        resource, ns, name, sub = self._route(path)
        if resource == "namespaces" and ns is None and name is not None and method == "GET":
            self._send_json(200, self.api.store.get("namespaces", "", name))
            return
        namespaced = RESOURCES[resource][2]
        if ns is not None and ns in self.api.forbidden:
            verbs = {"GET": "list" if name is None else "get", "POST": "create", "DELETE": "delete"}
            verb = verbs.get(method, "update")
            group = group_of(resource)
            raise ApiError(403, "Forbidden", f'{resource}{"." + group if group else ""} is forbidden: User '
                           f'"system:serviceaccount:{ns}:accelctl" cannot {verb} resource "{resource}" in API group '
                           f'"{group}" in the namespace "{ns}"', {"kind": resource})
        key_ns = ns if namespaced else ""
        store = self.api.store
        if method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                self._watch(resource, ns if namespaced else None, query)
                return
            items, rv = store.list(resource, ns if namespaced else None, query.get("labelSelector"),
                                   query.get("fieldSelector"))
            kind, api_version, _ = RESOURCES[resource]
            self._send_json(200, {"kind": f"{kind}List", "apiVersion": api_version,
                                  "metadata": {"resourceVersion": str(rv)}, "items": items})
        elif method == "GET" and sub == "log" and resource == "pods":
            self._log(key_ns, str(name), query)
        elif method == "GET":
            self._send_json(200, store.get(resource, key_ns, str(name)))
        elif method == "POST" and name is None:
            self._create(resource, key_ns, query)
        elif method == "DELETE" and name is not None:
            self._delete(resource, key_ns, name, query)
        elif method == "PATCH" and name is not None:
            patch = self._body() or {}
            self._send_json(200, store.update(resource, key_ns, name, lambda o: _merge(o, patch)))
        else:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {resource}")

    def _create(self, resource: str, ns: str, query: dict[str, str]) -> None:
        body = self._body()
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        store = self.api.store
        if RESOURCES[resource][2] and store.find("namespaces", "", ns) is None:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})
        validation.check(resource, body, strict=query.get("fieldValidation") == "Strict")
        if query.get("dryRun") == "All":
            self._send_json(201, body)
            return
        body.pop("status", None)
        if resource == "pods":
            body["status"] = {"phase": "Pending"}
        elif resource == "jobs":
            body["status"] = {}
            spec = body["spec"]
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("parallelism", 1)
        created = store.create(resource, ns, body)
        if resource == "jobs":
            self.api.cluster.job_created(created)
        elif resource == "pods":
            self.api.cluster.pod_created(created)
        self._send_json(201, created)

    def _delete(self, resource: str, ns: str, name: str, query: dict[str, str]) -> None:
        options = self._body() or {}
        propagation = query.get("propagationPolicy") or options.get("propagationPolicy") or "Orphan"
        cluster = self.api.cluster
        if resource == "jobs":
            obj = cluster.delete_job(ns, name, propagation)
        elif resource == "pods":
            obj = cluster.delete_pod(ns, name)
        else:
            obj = self.api.store.delete(resource, ns, name)
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": name, "group": group_of(resource), "kind": resource,
                                          "uid": obj["metadata"].get("uid")}})

    def _watch(self, resource: str, ns: str | None, query: dict[str, str]) -> None:
        store = self.api.store
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        rv_text = query.get("resourceVersion") or "0"
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        rv = int(rv_text) if rv_text.isdigit() else 0
        initial: list[tuple[str, dict[str, Any]]] = []
        if rv == 0:
            items, rv = store.list(resource, ns, labels, fields)
            initial = [("ADDED", o) for o in items]
        try:
            store.events_after(rv, resource, ns, labels, fields, 0)
        except ApiError as e:  # too old: the real server answers 200 and an ERROR event
            self._start_chunked("application/json")
            self._chunk(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
            self._end_chunked()
            return
        self._start_chunked("application/json")
        for kind, obj in initial:
            self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        while not self.api.stopping and time.monotonic() < deadline:
            events, rv = store.events_after(rv, resource, ns, labels, fields, min(1.0, deadline - time.monotonic()))
            if events:
                self._chunk(b"".join(json.dumps({"type": k, "object": o}).encode() + b"\n" for k, o in events))
        self._end_chunked()

    # --- pod logs ------------------------------------------------------------------------

    def _log(self, ns: str, name: str, query: dict[str, str]) -> None:
        pod = self.api.store.get("pods", ns, name)
        container = self.api.cluster.containers.get((ns, name))
        main = pod["spec"]["containers"][0]["name"]
        if query.get("container") not in (None, main):
            raise ApiError(400, "BadRequest", f'container {query["container"]} is not valid for pod {name}')
        if container is None:
            unscheduled = any(c.get("reason") == "Unschedulable" for c in pod["status"].get("conditions", []))
            raise ApiError(400, "BadRequest", f"pod {name} does not have a host assigned" if unscheduled else
                           f'container "{main}" in pod "{name}" is waiting to start: ContainerCreating')
        follow = query.get("follow") in ("true", "1")
        stamps = query.get("timestamps") in ("true", "1")
        since_ns = 0
        if query.get("sinceSeconds"):
            since_ns = time.time_ns() - int(query["sinceSeconds"]) * 10**9
        elif query.get("sinceTime"):
            since_ns = _parse_time(query["sinceTime"])
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        limit = int(query["limitBytes"]) if query.get("limitBytes") else None
        cut = self.api.cut_follows.pop(0) if follow and self.api.cut_follows else None
        self._start_chunked("text/plain")
        sent, at = 0, 0
        with container.changed:
            entries = container.entries
            if tail is not None:
                at = max(0, len(entries) - tail)
        while True:
            with container.changed:
                while at == len(container.entries) and not container.done and follow and not self.api.stopping:
                    container.changed.wait(1.0)
                batch = container.entries[at:]
                done = container.done
            at += len(batch)
            data = _format(batch, since_ns, stamps)
            if limit is not None and sent + len(data) > limit:
                data = data[: limit - sent]
            if cut is not None and sent + len(data) > cut:
                self._chunk(data[: cut - sent])
                self._cut()
                return
            if data:
                self._chunk(data)
                sent += len(data)
            if not follow or done or self.api.stopping or (limit is not None and sent >= limit):
                break
        self._end_chunked()

    def _cut(self) -> None:
        """Drop the connection mid-stream, as a proxy or a dying node would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _format(entries: list[Any], since_ns: int, stamps: bool) -> bytes:
    parts = []
    for e in entries:
        if e.ts < since_ns:
            continue
        line = e.text + ("\n" if e.complete else "")
        parts.append(f"{rfc3339nano(e.ts)} {line}" if stamps else line)
    return "".join(parts).encode()


def _parse_time(text: str) -> int:
    import calendar

    base, _, frac = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 10**9 + int((frac or "0").ljust(9, "0")[:9])


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386), which is also what strategic merge does for maps."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


__all__ = ["CONTEXT", "Container", "KubeAPIServer"]
