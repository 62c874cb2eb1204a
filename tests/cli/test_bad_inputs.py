"""Every bad input is answered: the corpus under tests/data/bad/ through the real CLI.

Each corpus file's first line says what the answer must contain (`# expect: TEXT`) and,
where the fault has one place, where it must point (`| at: LINE:COLUMN`). Inventory,
Kubernetes and SSH pool files go through `accelctl validate FILE` and, as the overlay, through
`accelctl --inventory FILE render` / `submit --dry-run` of a good spec; job specs through
`accelctl submit --dry-run FILE` and `accelctl validate FILE`. Each must exit 2 with a
`path:line:column` message, no traceback, and leave the job store and the cache as they were.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO, run_accelctl

BAD = REPO / "tests" / "data" / "bad"
CORPUS = sorted(p.relative_to(BAD).as_posix() for p in BAD.rglob("*.yaml"))
# A spec that is fine on its own, placed on the pools of each bad overlay.
GOOD_SPEC = "name: good\ncommand: echo hi\naccelerator: cpu\n"
HUGE_MB = 50


def header(path: Path) -> dict[str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    assert first.startswith("# expect:"), f"{path}: the first line must say what to expect"
    fields = dict(part.strip().split(": ", 1) if ": " in part.strip() else (part.strip().rstrip(":"), "")
                  for part in first[2:].split(" | "))
    return fields


def snapshot(*dirs: str) -> dict[str, bytes]:
    """Every file under the dirs, with its bytes."""
    out = {}
    for top in dirs:
        for dirpath, _, names in os.walk(top):
            for name in names:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[path] = f.read()
    return out


def commands(kind: str, path: str, good_spec: str, only: str | None = None) -> list[tuple[str, ...]]:
    if only == "submit":  # e.g. an empty file: a fine (empty) overlay to `validate`, but no job spec
        return [("submit", "--dry-run", path)]
    if kind == "jobs":
        return [("submit", "--dry-run", path), ("validate", path)]
    return [("validate", path), ("--inventory", path, "submit", "--dry-run", good_spec)]


def assert_answered(result, path: str, expect: str = "", at: str | None = None) -> None:
    assert result.code == 2, f"exit {result.code}\n{result.err}"
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    # Messages name the file as given; the first is pinned to a position in it.
    positions = re.findall(rf"^{re.escape(path)}:(\d+):(\d+): ", result.err, re.M)
    assert positions, f"no {path}:line:column message in:\n{result.err}"
    assert all(int(line) >= 1 and int(col) >= 1 for line, col in positions)
    if at:
        assert at in {f"{line}:{col}" for line, col in positions}, f"expected {path}:{at} in:\n{result.err}"
    assert expect in result.err, f"expected {expect!r} in:\n{result.err}"
    assert len(result.err) < 5000, "an answer, not a dump"


@pytest.fixture
def warm(cli, tmp_path: Path) -> tuple[str, ...]:
    """The dirs accelctl writes to, after a clean run filled the bundled inventory's cache."""
    assert cli("pools").code == 0
    return tuple(os.environ[v] for v in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"))


@pytest.mark.parametrize("name", CORPUS)
def test_each_bad_input_is_answered(name: str, cli, warm: tuple[str, ...], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = BAD / name
    fields = header(path)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_SPEC)
    monkeypatch.chdir(path.parent)
    before = snapshot(*warm)
    for args in commands(name.split("/")[0], path.name, str(good), fields.get("run")):
        assert_answered(cli(*args), path.name, fields["expect"], fields.get("at"))
    assert snapshot(*warm) == before, "a bad input wrote to the store or the cache"


def test_the_corpus_covers_every_kind() -> None:
    kinds = {name.split("/")[0] for name in CORPUS}
    assert kinds == {"inventory", "jobs", "k8s", "ssh"}
    assert len(CORPUS) >= 60


@pytest.mark.parametrize("kind", ["inventory", "jobs"])
def test_a_huge_file_is_refused_before_parsing(kind: str, cli, warm: tuple[str, ...], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A 50 MB file (made here, never committed) is refused by its size, quickly."""
    import time

    path = tmp_path / "huge.yaml"
    line = b"# " + b"x" * 1021 + b"\n"
    with open(path, "wb") as f:
        f.write(b"name: big\ncommand: echo\n" if kind == "jobs" else b"pools: []\n")
        for _ in range(HUGE_MB * 1024):
            f.write(line)
    monkeypatch.chdir(tmp_path)
    before = snapshot(*warm)
    started = time.monotonic()
    for args in commands(kind, "huge.yaml", str(tmp_path / "good.yaml")):
        assert_answered(cli(*args), "huge.yaml", "file is too large", "1:1")
    assert time.monotonic() - started < 10
    assert snapshot(*warm) == before


def test_a_bad_input_through_a_fresh_interpreter(tmp_path: Path) -> None:
    """One of each kind as a user runs it: a new process, its real stderr."""
    for name in ("jobs/yaml-tag-python.yaml", "inventory/alias-bomb.yaml", "ssh/host-injection.yaml",
                 "jobs/non-utf8.yaml"):
        path = BAD / name
        verb = ("submit", "--dry-run") if name.startswith("jobs/") else ("validate",)
        done = run_accelctl(*verb, path.name, cwd=path.parent)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert re.search(rf"^{re.escape(path.name)}:\d+:\d+: ", done.stderr, re.M), done.stderr
    assert not Path("/tmp/pwned").exists()
