"""Reading user files with a size cap, as bytes (decoding is the parser's job)."""

from __future__ import annotations

import os

from accelctl.core.problems import Problem, ProblemsFound

# Larger files are refused before parsing: a 50 MB "inventory" is a mistake.
MAX_BYTES = 8 * 1024 * 1024


def read_capped(path: str | os.PathLike[str]) -> bytes:
    """The bytes of `path`; ProblemsFound naming the file when it cannot be used."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise ProblemsFound([Problem(name, 0, 0, "", "is a directory, not a YAML file")]) from None
    except OSError as e:
        raise ProblemsFound([Problem(name, 0, 0, "", f"cannot read: {e.strerror or e}")]) from None
    if len(data) > MAX_BYTES:
        size = os.path.getsize(name)
        raise ProblemsFound([Problem(name, 1, 1, "", (  # the whole file: its start
            f"file is too large ({size / 1e6:.1f} MB; the limit is {MAX_BYTES // 2**20} MiB)"))])
    return data
