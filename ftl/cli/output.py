"""Rendering for every command: consoles, errors, diagnostics with carets, JSON.

Rules (cli.md): colour and live status only on a terminal; plain text when stdout is not a TTY or
`--plain` is given; `NO_COLOR` honoured; errors as `ftl: error: ...` on stderr with exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ftl.errors import Diagnostic, FtlError

console = Console(highlight=False, soft_wrap=True)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)

PLAIN_OPTION = typer.Option(False, "--plain", help="Plain, line-oriented output (no colour, no live status).")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable JSON output.")


def set_plain(plain: bool) -> None:
    """Switch both consoles to plain output for the rest of the command."""
    if plain or os.environ.get("NO_COLOR"):
        for target in (console, console_err):
            target.no_color = True
            target._force_terminal = False  # rich has no public setter once constructed


def is_terminal(stream: Any = None) -> bool:
    stream = stream if stream is not None else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not console.no_color


def fail(message: str) -> NoReturn:
    """One line `ftl: error: <message>` on stderr, exit 1."""
    typer.echo(f"ftl: error: {message}", err=True)
    raise typer.Exit(1)


def print_diagnostics(
    diagnostics: Iterable[Diagnostic], filename: str = "", sources: dict[str, str] | None = None
) -> None:
    """Each error as `file:line:col: message` on stderr, plus the line and a caret on a terminal."""
    show_context = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
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


def fail_with(error: FtlError, filename: str = "", sources: dict[str, str] | None = None) -> NoReturn:
    """Render an FtlError: positioned diagnostics as such, a lone plain one as `ftl: error:`."""
    if len(error.diagnostics) == 1 and error.diagnostics[0].pos is None and not filename:
        fail(error.diagnostics[0].message)
    print_diagnostics(error.diagnostics, filename, sources)
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2 if is_terminal() else None, sort_keys=False))
