"""`accelctl pools probe` on real sshd: the stand-in nvidia-smi (lab0) and neuron-ls (lab1) of
tests/data/ssh/ become catalog ids; a host that does not answer is reported without
holding up the others; the result is cached with its time and shown by `accelctl pools`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accelctl.backends.ssh_probe import match, parse
from accelctl.core.inventory import load_inventory
from tests.backends.harness_ssh import ssh_backend
from tests.backends.sshd import Lab, lab

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def the_lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return lab(request.config)


def test_vendor_names_map_to_catalog_ids() -> None:
    accelerators = list(load_inventory().accelerators)
    assert match("NVIDIA H100 80GB HBM3", accelerators) == "nvidia-h100-sxm"
    assert match("NVIDIA H100 PCIe", accelerators) == "nvidia-h100-pcie"
    assert match("NVIDIA GeForce RTX 4090", accelerators) == "nvidia-rtx-4090"
    assert match("NVIDIA A100-SXM4-80GB", accelerators) == "nvidia-a100"
    assert match("Some Unknown Card", accelerators) is None
    assert parse("## nvidia\n## tpu\n/dev/accel0\n/dev/accel1\n", accelerators)[0].count == 2


async def test_probe_finds_each_hosts_accelerators_at_once(the_lab: Lab, tmp_path: Path) -> None:
    backend = ssh_backend(the_lab, tmp_path, ("lab0", "lab1", "down"))
    started = time.monotonic()
    results = await backend.probe_accelerators(list(load_inventory().accelerators))
    assert time.monotonic() - started < 10
    by_host = {r.host: r for r in results}
    (gpu,) = by_host["lab0"].devices
    assert (gpu.id, gpu.count, gpu.memory_gib, gpu.driver) == ("nvidia-h100-sxm", 2, 79.6, "550.54.15")
    (neuron,) = by_host["lab1"].devices
    assert (neuron.id, neuron.count, neuron.memory_gib) == ("aws-trainium2", 16, 96.0)
    assert not by_host["down"].ok and "cannot reach down" in by_host["down"].error


def test_pools_probe_cli_and_the_cached_result(the_lab: Lab, tmp_path: Path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    overlay = tmp_path / "pools.yaml"
    overlay.write_text(f"""pools:
- name: lab
  backend: ssh
  hosts: [lab0, lab1]
  accelerator: H100
  count: 2
  ssh_config: {the_lab.ssh_config}
  known_hosts: {the_lab.known_hosts}
""")
    monkeypatch.setenv("ACCELCTL_INVENTORY", str(overlay))
    result = cli("pools", "probe", "lab")
    assert result.code == 0, result.err
    assert "nvidia-h100-sxm" in result.out and "aws-trainium2" in result.out and "550.54.15" in result.out
    as_json = cli("pools", "probe", "lab", "-o", "json").json()
    assert [h["host"] for h in as_json] == ["lab0", "lab1"] and as_json[0]["devices"][0]["count"] == 2
    monkeypatch.setattr("accelctl.cli.catalog.is_terminal", lambda: True)  # notes show on a terminal
    listed = cli("pools")
    assert listed.code == 0 and "lab (probed" in listed.err and "2x nvidia-h100-sxm" in listed.err
    assert cli("pools", "probe", "no-such-pool").code == 2
