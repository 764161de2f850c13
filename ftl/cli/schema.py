"""`ftl schema validate` and `ftl schema fmt`: check and format schema text files.

Other modules add their commands to `schema_app` (`get`, `diff`, `export`). The schema library is
imported inside the commands so that `ftl --help` and unrelated commands do not pay for it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer

from ftl.cli.output import PLAIN_OPTION, print_diagnostics, set_plain
from ftl.errors import Diagnostic
from ftl.files import display_path, write_text_atomic

schema_app = typer.Typer(
    name="schema",
    help="Work with FTL schema text: validate, format, print, compare, export.",
    no_args_is_help=True,
)

STDIN = "-"
STDIN_NAME = "<stdin>"
FILES_ARGUMENT = typer.Argument(..., metavar="FILE...", help="Schema files; - reads standard input.")
CHECK_OPTION = typer.Option(False, "--check", help="Change nothing; list files that are not canonical.")


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app, name="schema")


@dataclass
class _Source:
    """One file named on the command line, read (or not)."""

    argument: str
    name: str
    data: bytes = b""
    text: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@schema_app.command("validate")
def validate(
    files: list[str] = FILES_ARGUMENT,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Parse and validate schema files: realms (as `ftl schema get` prints them) or one bare module."""
    set_plain(plain)
    from ftl.schema import check_document

    sources, failed = _read_all(files)
    for source in sources:
        if source.text is not None and not source.diagnostics:
            source.diagnostics = check_document(source.text, source.name)
    failed = _report(sources) or failed
    if failed:
        raise typer.Exit(1)


@schema_app.command("fmt")
def fmt(
    files: list[str] = FILES_ARGUMENT,
    check: bool = CHECK_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Rewrite schema files in canonical form (standard input goes to standard output)."""
    set_plain(plain)
    from ftl.errors import FtlError
    from ftl.schema import format_document

    sources, failed = _read_all(files)
    not_canonical = []
    for source in sources:
        if source.text is None or source.diagnostics:
            continue
        try:
            formatted = format_document(source.text, source.name)
        except FtlError as exc:
            source.diagnostics = exc.diagnostics
            continue
        canonical = formatted.encode("utf-8") == source.data  # a byte-order mark is not canonical
        if check:
            if not canonical:
                not_canonical.append(source.name)
        elif source.argument == STDIN:
            sys.stdout.write(formatted)
        elif not canonical:
            try:
                write_text_atomic(Path(source.argument), formatted)
            except OSError as exc:
                typer.echo(f"ftl: error: cannot write {source.argument}: {exc.strerror or exc}", err=True)
                failed = True
    failed = _report(sources) or failed
    for name in sorted(not_canonical):
        typer.echo(name)
    if failed or not_canonical:
        raise typer.Exit(1)


def _read_all(arguments: list[str]) -> tuple[list[_Source], bool]:
    """Every readable file as text (undecodable ones carry their error); True if any was unreadable.

    A file named twice (`a.ftl ./a.ftl /abs/a.ftl`) is read once, so its errors are never repeated.
    """
    from ftl.errors import FtlError
    from ftl.schema import decode_source

    sources, unreadable = [], False
    for argument in _distinct(arguments):
        source = _Source(argument, STDIN_NAME if argument == STDIN else display_path(Path(argument)))
        try:
            data = sys.stdin.buffer.read() if argument == STDIN else Path(argument).read_bytes()
        except OSError as exc:
            typer.echo(f"ftl: error: cannot read {argument}: {exc.strerror or exc}", err=True)
            unreadable = True
            continue
        source.data = data
        try:
            source.text = decode_source(data, source.name)
        except FtlError as exc:
            source.diagnostics = exc.diagnostics
        sources.append(source)
    return sources, unreadable


def _distinct(arguments: list[str]) -> list[str]:
    """The arguments without repeats of a file already named (compared by resolved path)."""
    seen: set[str] = set()
    distinct = []
    for argument in arguments:
        key = STDIN if argument == STDIN else os.path.realpath(argument)
        if key not in seen:
            seen.add(key)
            distinct.append(argument)
    return distinct


def _report(sources: list[_Source]) -> bool:
    """Print every diagnostic, files in name order; True if there was any."""
    failed = False
    for source in sorted(sources, key=lambda s: s.name):
        if source.diagnostics:
            failed = True
            texts = {source.name: source.text} if source.text is not None else None
            print_diagnostics(source.diagnostics, source.name, texts)
    return failed
