"""`refresh_states` tells a pool that is down from a pool that answers but has lost the job.

A stand-in Ray dashboard (stdlib HTTP server) answers /api/version but knows no job, as a
Ray head restarted at the same address does; port 9 (discard) answers nothing. The first
pool's job becomes UNKNOWN with the pool's words; the second's keeps its last state and gets
a note. The end-to-end version, with a real head killed and started again, is
tests/cli/test_backend_gone.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accelctl.backends.jobs import refresh_states
from accelctl.core.jobstate import JobState
from accelctl.core.store import JobRecord, JobStore


class _ForgetfulRay(BaseHTTPRequestHandler):
    """A Ray dashboard that has just restarted: it answers, and knows no job."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/api/version":
            self._answer(200, {"ray_version": "2.60.0"})
        else:
            job = self.path.rsplit("/", 1)[-1]
            self._answer(404, {"detail": f"Job {job} does not exist"})

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass  # quiet


@pytest.fixture
def forgetful_ray() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForgetfulRay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _running(job_id: str, pool: str, address: str) -> JobRecord:
    return JobRecord(job_id, "train", pool, "ray", f"raysubmit_{job_id}", {"address": address}, {},
                     JobState.RUNNING, time.time())


def test_a_job_its_pool_forgot_is_unknown_a_pool_that_is_down_keeps_its_state(
        tmp_path: Path, forgetful_ray: str) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    lost, unreached = _running("aaaa0001", "restarted", forgetful_ray), _running("bbbb0001", "down",
                                                                                  "http://127.0.0.1:9")
    store.add(lost)
    store.add(unreached)

    notes = asyncio.run(refresh_states(store, [lost, unreached], timeout=5))

    after = store.get(lost.id)
    assert after.state == JobState.UNKNOWN and not after.terminal
    assert after.message.startswith('pool "restarted" no longer knows job raysubmit_aaaa0001'), after.message
    assert lost.id not in notes
    assert store.get(unreached.id).state == JobState.RUNNING
    assert "does not answer" in notes[unreached.id]
    # Asked again, nothing changes: the lost job stays UNKNOWN, the note stays a note.
    again = asyncio.run(refresh_states(store, [after, store.get(unreached.id)], timeout=5))
    assert store.get(lost.id) == after and set(again) == {unreached.id}
