"""Problems found in user files, each pinned to path:line:column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from accelctl.errors import InvalidInput


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a file. `line` and `column` are 1-based; 0 means unknown."""

    path: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProblemsFound(InvalidInput):
    """Raised when a file has problems; carries every one of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        first = str(self.problems[0]) if self.problems else "invalid input"
        super().__init__(first)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, or '' when none is close."""
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f' (did you mean "{lowered[match[0]]}"?)' if match else ""
