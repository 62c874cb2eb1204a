"""Write the upgrade fixtures with the code of earlier releases (run by hand, output committed).

    python tests/data/upgrade/make_fixtures.py

For each release below, the repository at that commit (a temporary git worktree) writes, in
XDG dirs of its own: a job store with one job in each state, the kept output of a finished
job, the inventory cache (`accelctl ls`) and, where the release had SSH pools, a probe cache.
The dirs land in tests/data/upgrade/<name>/ (config/, state/, cache/). Nothing of the current
code runs here: what the fixture holds is what that release wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

# name -> (commit, the script that release runs to write its files)
RELEASES = {
    # Issue 6's release: the first store (schema 0, an `address` column), no kept output.
    "schema0-15dcf00": ("15dcf00", """
from accelctl.core.store import JobRecord, JobStore, default_store
store = default_store()
spec = {"name": "train", "command": "python3 train.py", "accelerator": "cpu", "count": 1, "nodes": 1}
for i, state in enumerate(["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN"]):
    store.add(JobRecord(f"0000000{i}", f"job-{state.lower()}", "local", "local", f"raysubmit_{i}",
                        "http://127.0.0.1:8265", spec, state, 1_780_000_000.0 + i))
    if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
        store.update(f"0000000{i}", state, exit_code=0 if state == "SUCCEEDED" else 1)
"""),
    # The last release (stop 14): schema 1 (JSON targets), kept output, SSH probe cache.
    "release-a8c37e7": ("a8c37e7", """
import time
from accelctl.core.jobstate import JobState
from accelctl.core.logarchive import default_archive
from accelctl.core.store import JobRecord, JobStore, default_store
from accelctl.backends import ssh_probe
from accelctl.backends.ssh_probe import Device, HostProbe
store = default_store()
spec = {"name": "train", "command": "python3 train.py", "accelerator": "cpu", "count": 1, "nodes": 1}
targets = {"local": {"address": "http://127.0.0.1:8265"},
           "kubernetes": {"context": "kind-test", "namespace": "ml"},
           "ssh": {"hosts": ["gpu1"], "workdir": ".accelctl/jobs"}}
for i, state in enumerate(JobState):
    backend = list(targets)[i % 3]
    store.add(JobRecord(f"1000000{i}", f"job-{state.value.lower()}", backend, backend, f"accelctl-1000000{i}",
                        targets[backend], spec, state, 1_790_000_000.0 + i))
    if state.terminal:
        store.update(f"1000000{i}", state, exit_code=0 if state == JobState.SUCCEEDED else 1)
with default_archive().writer("10000002") as out:
    out.write("".join(f"step {n} loss {1 / (n + 1):.4f}\\n" for n in range(1000)) + "done, no newline")
rtx = Device(name="NVIDIA GeForce RTX 4090", count=2, memory_gib=23.6, driver="550.54.15", id="nvidia-rtx-4090")
ssh_probe.save("ssh-lab", [HostProbe("gpu1", True, [rtx]), HostProbe("gpu2", False, error="no answer within 5 s")])
"""),
}


def main() -> None:
    for name, (commit, script) in RELEASES.items():
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), commit], check=True,
                           capture_output=True)
            try:
                env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CONFIG_HOME": str(out / "config"),
                       "XDG_STATE_HOME": str(out / "state"), "XDG_CACHE_HOME": str(out / "cache")}
                env.pop("ACCELCTL_INVENTORY", None)
                subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp, check=True)
                # The inventory cache, as that release's `accelctl ls` wrote it.
                subprocess.run([sys.executable, "-m", "accelctl.cli.main", "ls"], env=env, cwd=tmp, check=True,
                               capture_output=True)
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
        for wal in out.rglob("*-wal"):
            wal.unlink()  # each store was closed cleanly; a -wal left empty is noise
        print(name, sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))


if __name__ == "__main__":
    main()
