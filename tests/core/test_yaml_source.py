"""Safe YAML loading: positions, and one clear problem for each kind of bad file."""

from __future__ import annotations

import pytest

from accelctl.core.files import MAX_BYTES
from accelctl.core.problems import ProblemsFound
from accelctl.core.yaml_source import load_yaml_bytes, load_yaml_file


def problems(text: str | bytes) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(ProblemsFound) as exc:
        load_yaml_bytes(raw, "f.yaml")
    return [str(p) for p in exc.value.problems]


def test_positions_of_keys_and_values() -> None:
    doc = load_yaml_bytes(b"pools:\n  - name: a\n    count: 3\n", "f.yaml")
    assert doc.data == {"pools": [{"name": "a", "count": 3}]}
    assert doc.position(("pools", 0, "count")) == (3, 12)
    assert doc.position(("pools", 0, "count"), key=True) == (3, 5)
    # a path that does not exist falls back to its nearest ancestor
    assert doc.position(("pools", 0, "missing")) == (2, 5)


def test_scalars_keep_yaml_types_and_dates_stay_text() -> None:
    doc = load_yaml_bytes(b"a: 1\nb: 1.5\nc: true\nd: null\ne: 2025-12-11\nf: '80'\n", "f.yaml")
    assert doc.data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "2025-12-11", "f": "80"}


def test_duplicate_key_points_at_second_and_names_first() -> None:
    assert problems("a: 1\nb: 2\na: 3\n") == ["f.yaml:3:1: a: duplicate key (first defined at line 1)"]


def test_tab_indentation() -> None:
    [p] = problems("pools:\n\t- name: a\n")
    assert p.startswith("f.yaml:2:1: invalid YAML: tab character")


def test_malformed_yaml_has_line_and_column() -> None:
    [p] = problems("a: [1, 2\nb: 3\n")
    assert p.startswith("f.yaml:2:") and "invalid YAML" in p


def test_not_utf8_names_the_byte() -> None:
    assert problems(b"a: 1\nb: caf\xe9\n") == ["f.yaml:2:7: not valid UTF-8 (byte 0xe9); save the file as UTF-8"]


def test_binary_file() -> None:
    [p] = problems(b"\x7fELF\x02\x01\x00\x00")
    assert p == "f.yaml:1:7: binary data (NUL byte): not a YAML text file"


def test_alias_bomb_fails_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    [p] = problems("\n".join(lines) + "\n")
    assert "alias bomb" in p


def test_deep_nesting() -> None:
    [p] = problems("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nesting too deep" in p


def test_merge_keys_are_refused() -> None:
    [p] = problems("base: &b {x: 1}\nthing:\n  <<: *b\n")
    assert p == "f.yaml:3:3: thing: merge keys (<<) are not supported; write the fields out"


def test_file_too_large(tmp_path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 10))
    with pytest.raises(ProblemsFound) as exc:
        load_yaml_file(big)
    assert "file is too large" in str(exc.value)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(ProblemsFound, match="cannot read: No such file"):
        load_yaml_file(tmp_path / "nope.yaml")
    with pytest.raises(ProblemsFound, match="is a directory"):
        load_yaml_file(tmp_path)
