"""The wheel carries inventory.yaml, so an installed accelctl works from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_the_inventory_and_runs_elsewhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)], cwd=REPO,
                   check=True, capture_output=True)
    [wheel] = dist.glob("accelctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "accelctl/data/inventory.yaml" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    # Unpack the wheel alone (dependencies come from this environment) and run it from elsewhere.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "accelctl", "ls", "-o", "json"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert len(json.loads(out)) >= 45
    where = subprocess.run([sys.executable, "-c", "import accelctl.paths as p; print(p.bundled_inventory())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert where.strip() == str(site / "accelctl" / "data" / "inventory.yaml")
