"""`ftl schema diff` and `ftl schema export` (added to the `schema` group)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ftl.cli.build import fail_on_diagnostics
from ftl.cli.output import (
    JSON_OPTION,
    PLAIN_OPTION,
    console,
    fail,
    fail_with,
    is_terminal,
    print_json,
    set_plain,
)
from ftl.errors import FtlError
from ftl.files import display_path
from ftl.project import Project, find_project_file, load_project
from ftl.realm.export import (
    check_public_schema,
    export_target,
    project_schema,
    public_schema_text,
    write_public_schema,
)
from ftl.realm.sources import read_schema_source
from ftl.schema.diff import diff_documents

STDOUT = "-"
PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)


def register(app: typer.Typer) -> None:
    from ftl.cli.schema import schema_app

    schema_app.command("diff")(diff)
    schema_app.command("export")(export)


def diff(
    old: str = typer.Argument(..., help="Old schema: a file, `-` for stdin, or git:REV[:PATH]."),
    new: str = typer.Argument(..., help="New schema: a file, `-` for stdin, or git:REV[:PATH]."),
    breaking: bool = typer.Option(False, "--breaking", help="List breaking changes; exit 1 only if any."),
    json_output: bool = JSON_OPTION,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Unified diff of two schemas' canonical texts (exit 1 when they differ)."""
    set_plain(plain)
    if old == "-" and new == "-":
        fail("only one of OLD and NEW can be `-` (standard input)")
    try:
        uses_git = any(spec.startswith("git:") for spec in (old, new))
        project = _optional_project(project_file, needed=False) if uses_git else None
        old_source = read_schema_source(old, project=project, read_stdin=sys.stdin.read)
        new_source = read_schema_source(new, project=project, read_stdin=sys.stdin.read)
        result = diff_documents(
            old_source.text, old_source.label, new_source.text, new_source.label, with_changes=breaking
        )
    except FtlError as error:
        fail_with(error)
    if json_output:
        payload: dict[str, object] = {"equal": result.equal, "diff": result.diff}
        if breaking:
            payload["breaking"] = [
                {"decl": f"{c.module}.{c.decl}", "message": c.message, "text": str(c)}
                for c in result.breaking
            ]
        print_json(payload)
    elif breaking:
        for change in result.breaking:
            console.print(escape(str(change)))
    else:
        _print_diff(result.diff)
    failed = bool(result.breaking) if breaking else not result.equal
    if failed:
        raise typer.Exit(1)


def export(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 (with the diff) if stale."),
    output: Annotated[
        str | None, typer.Option("--output", help="Write here instead of `public-schema` (- = stdout).")
    ] = None,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Write this realm's public schema (its `export realm` declarations and what they reach)."""
    set_plain(plain)
    if check and output == STDOUT:
        raise typer.BadParameter("--check compares with a file, not standard output", param_hint="--output")
    try:
        project = _optional_project(project_file, needed=True)
        assert project is not None
        target = None if output == STDOUT else export_target(project, output, writing=not check)
        schema = project_schema(project)
        if target is None:
            sys.stdout.write(public_schema_text(schema, project.realm))
            return
        name = output if output is not None else display_path(target)  # as the user wrote it
        if not check:
            try:
                changed = write_public_schema(project, schema, target)
            except OSError as exc:
                fail(f"cannot write {name}: {exc.strerror or exc}")
            console.print(f"Wrote {escape(name)}" if changed else f"{escape(name)} is up to date")
            return
        result = check_public_schema(project, schema, target)
    except FtlError as error:
        if any(d.pos for d in error.diagnostics):
            fail_on_diagnostics(error.diagnostics)  # positioned, named relative to here
        fail_with(error)
    if result.up_to_date:
        console.print(f"{escape(name)} is up to date")
        return
    _print_diff(result.diff)
    state = "is stale" if result.exists else "does not exist"
    fail(f"{name} {state}: run `ftl schema export`")


def _optional_project(project_file: Path | None, *, needed: bool) -> Project | None:
    try:
        path = find_project_file(project_file)
    except FtlError:
        if needed or project_file is not None:
            raise
        return None
    return load_project(path)


def _print_diff(diff: str) -> None:
    if not is_terminal():
        sys.stdout.write(diff)
        return
    for line in diff.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        if line.startswith(("+++", "---", "@@")):
            style = "bold" if not line.startswith("@@") else "cyan"
        console.print(line, style=style, markup=False, highlight=False)
