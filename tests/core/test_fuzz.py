"""Property-based fuzzing: the YAML loader, the job-spec loader and `--set` raise nothing
but the documented error types (ProblemsFound for files, InvalidInput for options).

Sizes are constants (EXAMPLES per property, derandomized so CI is repeatable); a failure
prints the shrunk example to replay.
"""

from __future__ import annotations

import os
import string
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelctl.core.jobspec import JobSpec, load_jobspec
from accelctl.core.problems import Problem, ProblemsFound
from accelctl.core.yaml_source import load_yaml_bytes
from accelctl.errors import InvalidInput

EXAMPLES = 400  # per property; 5 properties
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Pieces of YAML syntax, so the fuzzer reaches the parser and the converter, not just the decoder.
TOKENS = ["name", "command", "count", "nodes", "env", "resources", "cpu", "memory", "topology", "pool",
          "accelerator", "timeout", "pools", ":", ": ", "- ", "\n", "  ", "\t", "{", "}", "[", "]", ",", "&a ",
          "*a", "<<: ", "!!python/object ", "!!binary ", "!tag ", "'", '"', "#", "---\n", "...\n", "|\n", ">\n",
          "? ", "%YAML 1.2\n", "0x1F", "1e9", "-1", "null", "~", "true", "2x4", "8Gi", "\\", "\ufeff", "é", "\r"]
yaml_text = st.lists(st.sampled_from(TOKENS) | st.text(string.printable, max_size=5), max_size=40).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=20)
FIELDS = [f for f in JobSpec.__dataclass_fields__ if f != "path"] + ["num_workers", "resources.cpu",
                                                                       "resources.memory", "env.A", "env"]


def _well_formed(error: InvalidInput) -> None:
    if isinstance(error, ProblemsFound):
        assert error.problems and all(isinstance(p, Problem) and p.message for p in error.problems)
    assert str(error).strip()


@FUZZ
@given(st.binary(max_size=400) | yaml_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_the_yaml_loader_raises_only_problems_found(raw: bytes) -> None:
    try:
        load_yaml_bytes(raw, "fuzz.yaml")
    except ProblemsFound as e:
        _well_formed(e)
        assert all(p.path == "fuzz.yaml" for p in e.problems)


def _load_spec(text: bytes, overrides: tuple[str, ...] | list[str] = ()) -> JobSpec | None:
    fd, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        return load_jobspec(path, overrides)
    except InvalidInput as e:
        _well_formed(e)
        return None
    finally:
        os.unlink(path)


@FUZZ
@given(yaml_text)
def test_the_spec_loader_on_yaml_like_text(text: str) -> None:
    _load_spec(("name: fuzz\ncommand: echo\n" + text).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
def test_the_spec_loader_on_any_structure(data: dict) -> None:
    spec = _load_spec(yaml.safe_dump({"name": "fuzz", "command": "echo", **data}).encode())
    if spec is not None:  # what loads is a valid spec: its checks ran
        assert spec.count >= 1 and spec.nodes >= 1 and spec.command


@FUZZ
@given(st.lists(st.one_of(
    st.tuples(st.sampled_from(FIELDS) | st.text(max_size=12), st.sampled_from(["=", "", "=="]), st.text(max_size=12)
              | yaml_text).map("".join),
    st.text(max_size=30)), max_size=4))
def test_the_set_parser_raises_only_invalid_input(overrides: list[str]) -> None:
    _load_spec(b"name: fuzz\ncommand: echo\n", overrides)


@FUZZ
@given(st.sampled_from(["count", "nodes", "retries", "timeout", "resources.cpu"]),
       st.integers(min_value=-(10**30), max_value=10**30) | st.floats() | st.text(max_size=8))
def test_numbers_out_of_range_are_problems_not_crashes(key: str, value: object) -> None:
    spec = _load_spec(b"name: fuzz\ncommand: echo\n", [f"{key}={value}"])
    if spec is not None and key in ("count", "nodes"):
        assert 1 <= getattr(spec, key) <= 100_000
