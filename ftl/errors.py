"""Errors as values: a message with an optional place in a file.

Library code returns or raises these; only the CLI renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in a text: 1-based line, 1-based column counted in characters."""

    filename: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}"
        return f"{self.filename}:{where}" if self.filename else where

    def with_filename(self, filename: str) -> Position:
        return Position(filename, self.line, self.column)


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One error. `pos` is None for errors that belong to no place (a module cycle)."""

    sort_key: tuple[str, int, int] = field(init=False, repr=False, compare=True)
    message: str = field(compare=True)
    pos: Position | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        key = (self.pos.filename, self.pos.line, self.pos.column) if self.pos else ("", 0, 0)
        object.__setattr__(self, "sort_key", key)

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}" if self.pos else self.message

    def render(self, filename: str) -> str:
        """`file:line:col: message`, or `file: message` where there is no place."""
        if self.pos is None:
            return f"{filename}: {self.message}"
        name = self.pos.filename or filename
        return f"{name}:{self.pos.line}:{self.pos.column}: {self.message}"


class FtlError(Exception):
    """A failure that carries one or more diagnostics for the user."""

    def __init__(self, diagnostics: list[Diagnostic] | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        self.diagnostics = sorted_unique(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def sorted_unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Sorted by file, line, column (then message), each at most once."""
    return sorted(set(diagnostics))
