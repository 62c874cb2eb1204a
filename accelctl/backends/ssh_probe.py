"""Which accelerators each host of an SSH pool has: one command per host, all hosts at once.

The host runs whichever vendor tools it has (`nvidia-smi`, `hl-smi`, `rocm-smi`,
`neuron-ls`) and lists TPU device nodes; the answers are mapped to catalog ids by the
catalog's names and aliases. A host that does not answer is reported as such, within
the timeout, without holding up the others. Results are kept with their time in the
XDG cache dir (`ssh-probe/<pool>.json`) for `accelctl pools` and the TUI.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelctl.core import chips
from accelctl.core.models import Accelerator
from accelctl.errors import AccelctlError

PROBE_TIMEOUT_S = 10.0
# One section per tool; a tool that is missing prints nothing.
_SCRIPT = """echo '## nvidia'; command -v nvidia-smi >/dev/null && \
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
echo '## gaudi'; command -v hl-smi >/dev/null && \
hl-smi --query-aip=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
echo '## rocm'; command -v rocm-smi >/dev/null && rocm-smi --showproductname --showmeminfo vram --json 2>/dev/null
echo '## neuron'; command -v neuron-ls >/dev/null && neuron-ls --json-output 2>/dev/null
echo '## tpu'; ls -d /dev/accel[0-9]* /dev/vfio/[0-9]* 2>/dev/null
true"""


@dataclass
class Device:
    """Accelerators of one model on a host."""

    name: str  # as the vendor tool names it
    id: str | None  # catalog id, None when the catalog has no match
    count: int
    memory_gib: float | None
    driver: str | None


@dataclass
class HostProbe:
    """One host's answer: its devices, or why it did not answer."""

    host: str
    ok: bool
    devices: list[Device] = field(default_factory=list)
    error: str = ""


def match(name: str, accelerators: list[Accelerator]) -> str | None:
    """The catalog id whose name or longest alias appears, as whole words, in `name`."""
    text = name.lower().replace("geforce ", "")
    best: tuple[int, str] | None = None
    for acc in accelerators:
        for alias in (*acc.aliases, acc.name, acc.id):
            needle = alias.lower().replace("nvidia ", "").replace("geforce ", "")
            longer = best is None or len(needle) > best[0]
            if longer and len(needle) >= 2 and re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", text):
                best = (len(needle), acc.id)
    return best[1] if best else None


def parse(output: str, accelerators: list[Accelerator]) -> list[Device]:
    """Devices from the probe script's output."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif line.strip() and current:
            sections[current].append(line.strip())
    found: Counter[tuple[str, str | None, float | None, str | None]] = Counter()
    for line in sections.get("nvidia", []) + sections.get("gaudi", []):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            found[(parts[0], match(parts[0], accelerators), _gib(parts[1]), parts[2])] += 1
    for device in _json_list(sections.get("neuron", [])):
        cores = device.get("nc_count")
        ids = [i for i, d in chips.NEURON.items() if d.cores_per_chip == cores]
        memory = device.get("memory_size")
        name = f"Neuron device ({cores} cores)"
        found[(name, ids[0] if len(ids) == 1 else None, memory / 2**30 if memory else None, None)] += 1
    rocm = _json_dict(sections.get("rocm", []))
    for card in rocm.values():
        if isinstance(card, dict):
            name = str(card.get("Card Series") or card.get("Card series") or "AMD GPU")
            total = card.get("VRAM Total Memory (B)")
            found[(name, match(name, accelerators), int(total) / 2**30 if total else None, None)] += 1
    tpu = sections.get("tpu", [])
    if tpu:
        found[("TPU device node", None, None, None)] += len(tpu)
    return [Device(name, acc_id, count, memory, driver) for (name, acc_id, memory, driver), count in found.items()]


def _gib(text: str) -> float | None:
    m = re.match(r"^([\d.]+)\s*(MiB|GiB|MB|GB)$", text)
    if not m:
        return None
    value = float(m.group(1))
    return round(value / 1024, 1) if m.group(2) in ("MiB", "MB") else value


def _json_list(lines: list[str]) -> list[dict[str, Any]]:
    try:
        data = json.loads("\n".join(lines)) if lines else []
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _json_dict(lines: list[str]) -> dict[str, Any]:
    try:
        data = json.loads("\n".join(lines)) if lines else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def probe_hosts(backend: Any, accelerators: list[Accelerator],
                      timeout: float = PROBE_TIMEOUT_S) -> list[HostProbe]:
    """Probe every host of an SshBackend at once; each within `timeout`."""

    async def one(host: str) -> HostProbe:
        try:
            code, out, err = await asyncio.wait_for(asyncio.to_thread(backend._run, host, _SCRIPT), timeout)
        except TimeoutError:
            return HostProbe(host, False, error=f"no answer within {timeout:g} s")
        except AccelctlError as e:
            return HostProbe(host, False, error=e.message)
        if code != 0:
            return HostProbe(host, False, error=err.decode(errors="replace").strip() or f"exit {code}")
        return HostProbe(host, True, parse(out.decode(errors="replace"), accelerators))

    return list(await asyncio.gather(*(one(h) for h in backend.hosts)))


def cache_file(pool: str) -> Path:
    from accelctl.paths import cache_dir

    return cache_dir() / "ssh-probe" / f"{pool}.json"


def save(pool: str, results: list[HostProbe]) -> None:
    """Keep a probe's results with their time."""
    path = cache_file(pool)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"time": time.time(), "hosts": [asdict(r) for r in results]}))


def load(pool: str) -> tuple[float, list[HostProbe]] | None:
    """The last probe of a pool and its time, or None (also for a damaged or foreign file)."""
    try:
        data = json.loads(cache_file(pool).read_text())
        hosts = [HostProbe(h["host"], h["ok"], [_device(d) for d in h["devices"]], h["error"]) for h in data["hosts"]]
        return float(data["time"]), hosts
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _device(fields: dict[str, Any]) -> Device:
    """A Device from the cache file, its types checked (summary() formats them)."""
    device = Device(**fields)
    optional = ((device.id, str), (device.memory_gib, (int, float)), (device.driver, str))
    if not (isinstance(device.name, str) and isinstance(device.count, int)
            and all(value is None or isinstance(value, kind) for value, kind in optional)):
        raise TypeError(f"a device of unexpected types: {fields}")
    return device


def summary(results: list[HostProbe]) -> str:
    """A few words per host: '2x nvidia-h100-sxm 79.6 GiB (driver 550.54.15)'."""
    parts = []
    for r in results:
        if not r.ok:
            parts.append(f"{r.host}: {r.error}")
        elif not r.devices:
            parts.append(f"{r.host}: no accelerators")
        else:
            parts.append(f"{r.host}: " + ", ".join(
                f"{d.count}x {d.id or d.name}" + (f" {d.memory_gib:g} GiB" if d.memory_gib else "")
                + (f" (driver {d.driver})" if d.driver else "") for d in r.devices))
    return "; ".join(parts)
