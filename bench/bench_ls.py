"""Start-up time of `accelctl ls` and `accelctl --help`, beside `python -c pass`.

Runs each command N times, interleaved so machine noise hits all alike, after one
untimed warm-up run (which fills the inventory cache). Prints medians, the ratio
to the bare interpreter, and the issue's budget (<= 0.3 s median for `ls`).

    python bench/bench_ls.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_S = 0.3


def console_script() -> str:
    """The accelctl entry point installed beside this interpreter (not a shell shim)."""
    beside = Path(sys.executable).with_name("accelctl")
    return str(beside) if beside.exists() else (shutil.which("accelctl") or "accelctl")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    exe = console_script()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "accelctl ls": [exe, "ls"],
        "accelctl --help": [exe, "--help"],
        "accelctl ls -o json": [exe, "ls", "-o", "json"],
    }
    for cmd in commands.values():
        timed(cmd)  # warm-up: page cache, inventory cache
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd))
    base = statistics.median(samples["python -c pass"])
    print(f"{'command':<22} {'median s':>9} {'p90 s':>7} {'vs python':>10}   ({args.runs} runs, {os.cpu_count()} cpus)")
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:<22} {median:9.3f} {p90:7.3f} {median / base:9.2f}x")
    ls_median = statistics.median(samples["accelctl ls"])
    verdict = "within" if ls_median <= BUDGET_S else "OVER"
    print(f"accelctl ls median {ls_median:.3f} s: {verdict} the {BUDGET_S} s budget")
    return 0 if ls_median <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
