"""Job launch and log speed on the local pool, beside Ray's own CLI on the same cluster.

    python bench/bench_jobs.py [--runs N] [--lines N]

1. submit -> first line (warm pool), side by side in one run:
   - the floor: what Ray itself allows, timed from a bare REST submission (POST) while
     polling the job's log every 20 ms in this process;
   - `accelctl submit` and `ray job submit`, each timed from process start;
   ratios to the floor (budget: accelctl <= 1.3x) and to `ray job submit`;
2. logs of a finished 1,000,000-line job: `accelctl logs` vs `ray job logs`, ratio, lines/s;
3. peak RSS of `accelctl logs -f` on that job.

It starts its own local pool under a temporary dir and stops it at the end.
Budgets (from the launcher issue): ratios <= 1.0, >= 200,000 lines/s, RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ACCELCTL = [sys.executable, "-m", "accelctl"]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
MARK = "bench-first-line"


def first_line_latency(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from start until a line equal to MARK appears on stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == MARK:
            elapsed = time.perf_counter() - start
            proc.wait()
            return elapsed
    proc.wait()
    raise RuntimeError(f"{cmd[:4]} never printed {MARK}")


def floor_latency(address: str, token: str) -> float:
    """Seconds from a bare Jobs API submission until its log holds MARK (polled every 20 ms)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(address + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    start = time.perf_counter()
    job = call("POST", "/api/jobs/", {"entrypoint": f"echo {MARK}"})["submission_id"]
    while MARK not in call("GET", f"/api/jobs/{job}/logs")["logs"]:
        time.sleep(0.02)
    return time.perf_counter() - start


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of a command whose output is discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed")
    return elapsed, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="acbench-"))
    env = {**os.environ, "XDG_STATE_HOME": str(root / "state"), "XDG_CACHE_HOME": str(root / "cache"),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("ACCELCTL_INVENTORY", None)
    subprocess.run(ACCELCTL + ["local", "start"], env=env, capture_output=True, text=True, check=True)
    pool = json.loads(subprocess.run(ACCELCTL + ["local", "status", "-o", "json"], env=env, capture_output=True,
                                     text=True, check=True).stdout)
    address, token_file = pool["address"], pool["token_file"]
    token = Path(token_file).read_text().strip()
    # Ray's own CLI reaches the token-protected pool through Ray's token variables.
    ray_env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_file}
    try:
        spec = root / "first.yaml"
        spec.write_text(f"name: bench-first\ncommand: echo {MARK}\n")
        floor, ours, theirs = [], [], []
        for _ in range(args.runs):  # interleaved, so that drift on a shared machine hits all three alike
            floor.append(floor_latency(address, token))
            ours.append(first_line_latency(ACCELCTL + ["submit", str(spec)], env))
            theirs.append(first_line_latency(RAY + ["job", "submit", "--address", address, "--", "echo", MARK],
                                             ray_env))
        f, a, r = statistics.median(floor), statistics.median(ours), statistics.median(theirs)
        print(f"submit -> first line (median of {args.runs}): floor (REST POST + 20 ms log polls) {f:.2f} s, "
              f"accelctl submit {a:.2f} s, ray job submit {r:.2f} s")
        print(f"  accelctl / floor {a / f:.2f} (budget <= 1.3); accelctl / ray job submit {a / r:.2f}")

        big = root / "big.yaml"
        big.write_text(f"name: bench-lines\ncommand: [python3, -c, \"import sys\\nw = sys.stdout.write\\n"
                       f"for i in range({args.lines}): w(f'line {{i}} of the benchmark log\\\\n')\"]\n")
        job_id = subprocess.run(ACCELCTL + ["submit", "--detach", str(big)], env=env, capture_output=True,
                                text=True, check=True).stdout.strip()
        while True:
            jobs = json.loads(subprocess.run(ACCELCTL + ["jobs", "--all", "-o", "json"], env=env,
                                             capture_output=True, text=True, check=True).stdout)
            if next(j for j in jobs if j["id"] == job_id)["state"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(1)
        ours_t, theirs_t = [], []
        for _ in range(max(3, args.runs // 2)):
            ours_t.append(timed(ACCELCTL + ["logs", job_id], env)[0])
            theirs_t.append(timed(RAY + ["job", "logs", "--address", address, f"accelctl-{job_id}"], ray_env)[0])
        a, r = statistics.median(ours_t), statistics.median(theirs_t)
        print(f"logs of a finished {args.lines:,}-line job: accelctl {a:.2f} s, ray job logs {r:.2f} s, "
              f"ratio {a / r:.2f} (budget <= 1.0); {args.lines / a:,.0f} lines/s (budget >= 200,000)")
        _, rss = timed(ACCELCTL + ["logs", "-f", job_id], env)
        print(f"peak RSS of accelctl logs -f on that job: {rss / 1024:.0f} MB (budget < 150 MB)")
    finally:
        subprocess.run(ACCELCTL + ["local", "stop"], env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
