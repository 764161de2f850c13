"""Rendering for every command: consoles, errors, diagnostics with carets, JSON.

Rules (cli.md): colour and live status only on a terminal; plain text when stdout is not a TTY or
`--plain` is given; `NO_COLOR` honoured; errors as `ftl: error: ...` on stderr with exit code 1.

`--plain` and `NO_COLOR` differ: `NO_COLOR` only takes the colour away (rich reads it itself), while
`--plain` also takes away styles, spinners, tables and the source lines under diagnostics.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ftl.errors import Diagnostic, FtlError
from ftl.files import display_path
from ftl.project import Project

console = Console(highlight=False, soft_wrap=True)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)

PLAIN_OPTION = typer.Option(False, "--plain", help="Plain, line-oriented output (no colour, no live status).")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable JSON output.")


_ORIGINAL = {id(c): (c.no_color, c._force_terminal, c._color_system) for c in (console, console_err)}
_plain = False


def set_plain(plain: bool) -> None:
    """Switch both consoles to plain output (or back) for the rest of the command."""
    global _plain
    _plain = plain
    for target in (console, console_err):
        # rich has no public setters once a console is constructed.
        if plain:
            target.no_color, target._force_terminal, target._color_system = True, False, None
        else:
            target.no_color, target._force_terminal, target._color_system = _ORIGINAL[id(target)]


def is_terminal(stream: Any = None) -> bool:
    """Whether `stream` (default stdout) gets terminal output: a TTY, and no `--plain`."""
    stream = stream if stream is not None else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not _plain


def fail(message: str) -> NoReturn:
    """One line `ftl: error: <message>` on stderr, exit 1."""
    typer.echo(f"ftl: error: {message}", err=True)
    raise typer.Exit(1)


def print_diagnostics(
    diagnostics: Iterable[Diagnostic], filename: str = "", sources: dict[str, str] | None = None
) -> None:
    """Each error as `file:line:col: message` on stderr, plus the line and a caret on a terminal."""
    show_context = is_terminal(sys.stderr)
    for diagnostic in sorted(set(diagnostics)):
        typer.echo(diagnostic.render(filename), err=True)
        if not (show_context and diagnostic.pos and sources):
            continue
        text = sources.get(diagnostic.pos.filename or filename)
        if text is None:
            continue
        lines = text.splitlines()
        if 1 <= diagnostic.pos.line <= len(lines):
            source_line = lines[diagnostic.pos.line - 1].replace("\t", " ")
            console_err.print(f"  {escape(source_line)}")
            console_err.print("  " + " " * max(diagnostic.pos.column - 1, 0) + "[bold red]^[/]")


def warn_about(project: Project) -> Project:
    """Print the project file's warnings (unknown keys) on stderr; the project goes on."""
    for warning in relative_diagnostics(project.warnings):
        place = f"{warning.pos}: " if warning.pos else ""
        typer.echo(f"{place}warning: {warning.message}", err=True)
    return project


def relative_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The same diagnostics, with each absolute file name made relative to the current directory."""
    result: list[Diagnostic] = []
    for diagnostic in diagnostics:
        pos = diagnostic.pos
        if pos is not None and pos.filename and os.path.isabs(pos.filename):
            pos = pos.with_filename(display_path(Path(pos.filename)))
        result.append(Diagnostic(diagnostic.message, pos))
    return result


def fail_with(error: FtlError, filename: str = "", sources: dict[str, str] | None = None) -> NoReturn:
    """Render an FtlError: positioned diagnostics as such, a lone plain one as `ftl: error:`."""
    if len(error.diagnostics) == 1 and error.diagnostics[0].pos is None and not filename:
        fail(error.diagnostics[0].message)
    print_diagnostics(error.diagnostics, filename, sources)
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2 if is_terminal() else None, ensure_ascii=False))
