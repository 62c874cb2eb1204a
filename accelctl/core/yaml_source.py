"""Safe YAML loading that remembers where every key and value came from.

The document is composed into nodes (safe loader only; libyaml when available),
then converted to plain Python values while recording the 1-based line and column
of every key path, so later validation can point at `path:line:column`.

Defences against hostile or broken files: a size cap, binary and non-UTF-8
detection, duplicate keys, a nesting-depth cap and a cap on expanded nodes (so
alias "billion laughs" documents fail fast instead of eating memory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from accelctl.core.files import read_capped
from accelctl.core.problems import Problem, ProblemsFound

MAX_DEPTH = 64
MAX_NODES = 500_000

Loc = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_SCALARS = {
    _TAG + "null": _constructor.construct_yaml_null,
    _TAG + "bool": _constructor.construct_yaml_bool,
    _TAG + "int": _constructor.construct_yaml_int,
    _TAG + "float": _constructor.construct_yaml_float,
}


@dataclass
class Document:
    """A loaded YAML file: its data and the position of every key path in it."""

    path: str
    data: Any
    value_marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Line and column of `loc`, or of its nearest ancestor that has one.

        With `key=True` the key itself is preferred over its value, which is where
        an editor should jump for "unknown field" or "missing field" problems.
        """
        loc = tuple(loc)
        while True:
            if key and loc in self.key_marks:
                return self.key_marks[loc]
            if loc in self.value_marks:
                return self.value_marks[loc]
            if loc in self.key_marks:
                return self.key_marks[loc]
            if not loc:
                return (1, 1)
            loc = loc[:-1]

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        """A Problem at `loc`, keyed by its dotted path (`pools[2].address`)."""
        line, column = self.position(loc, key=key)
        return Problem(self.path, line, column, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    """('pools', 2, 'address') -> 'pools[2].address'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml_file(path: str | os.PathLike[str]) -> Document:
    """Read and parse `path`; raise ProblemsFound with every problem found."""
    name = os.fspath(path)
    raw = read_capped(name)
    return load_yaml_bytes(raw, name)


def load_yaml_bytes(raw: bytes, name: str) -> Document:
    """Parse YAML from bytes named `name` (used in messages)."""
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line, column = _byte_position(raw, offset)
        raise ProblemsFound([Problem(name, line, column, "", "binary data (NUL byte): not a YAML text file")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, column = _byte_position(raw, e.start)
        raise ProblemsFound([Problem(name, line, column, "", (
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8"))]) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        raise ProblemsFound([_yaml_error_problem(name, text, e)]) from None
    except yaml.YAMLError as e:
        raise ProblemsFound([Problem(name, 0, 0, "", f"invalid YAML: {e}")]) from None
    except RecursionError:
        raise ProblemsFound([Problem(name, 0, 0, "", f"nesting too deep (more than {MAX_DEPTH} levels)")]) from None
    doc = Document(name, None)
    if node is not None:
        converter = _Converter(doc)
        doc.data = converter.convert(node, (), 0)
        if converter.problems:
            raise ProblemsFound(converter.problems)
    return doc


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _yaml_error_problem(name: str, text: str, e: yaml.MarkedYAMLError) -> Problem:
    mark = e.problem_mark or e.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = e.problem or "invalid YAML"
    lines = text.splitlines()
    at = lines[line - 1][column - 1:column] if 0 < line <= len(lines) else ""
    if at == "\t" or "'\\t'" in problem:
        problem = "tab character: YAML indents with spaces only"
    elif "nesting depth" in problem:  # newer libyaml caps nesting itself
        problem = f"nesting too deep ({problem})"
    elif e.context:
        problem = f"{problem} ({e.context})"
    return Problem(name, line, column, "", f"invalid YAML: {problem}")


class _Converter:
    """Node tree -> plain values, recording marks and collecting problems."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.visited = 0

    def _fail(self, node: yaml.Node, loc: Loc, message: str) -> None:
        self.problems.append(Problem(
            self.doc.path, node.start_mark.line + 1, node.start_mark.column + 1, format_loc(loc), message))

    def convert(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            self._fail(node, loc, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
            raise ProblemsFound(self.problems)
        if depth > MAX_DEPTH:
            self._fail(node, loc, f"nesting too deep (more than {MAX_DEPTH} levels)")
            raise ProblemsFound(self.problems)
        self.doc.value_marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            construct = _SCALARS.get(node.tag)
            # Timestamps, binary and custom tags stay as their source text.
            return construct(node) if construct else node.value
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, loc + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)  # libyaml composes only these three kinds
        return self._mapping(node, loc, depth)

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self._fail(key_node, loc, "merge keys (<<) are not supported; write the fields out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, loc, "keys must be plain strings")
                continue
            key = key_node.value
            key_loc = loc + (key,)
            if key in out:
                first = self.doc.key_marks[key_loc][0]
                self._fail(key_node, key_loc, f"duplicate key (first defined at line {first})")
                continue
            self.doc.key_marks[key_loc] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.convert(value_node, key_loc, depth + 1)
        return out
