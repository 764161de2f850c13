"""`ftl build [MODULE...]`: extract, validate, regenerate stubs; errors as `file:line:col: message`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ftl.build import BuildResult, build_project
from ftl.cli.output import (
    PLAIN_OPTION,
    console,
    console_err,
    fail_with,
    is_terminal,
    print_diagnostics,
    relative_diagnostics,
    set_plain,
    warn_about,
)
from ftl.errors import Diagnostic, FtlError
from ftl.files import display_path
from ftl.project import Project, find_project_file, load_project

PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)


def register(app: typer.Typer) -> None:
    app.command("build")(build)


def build(
    modules: Annotated[
        list[str] | None, typer.Argument(help="Modules to build (and what they use); default: all.")
    ] = None,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Extract every module's schema from its sources, validate the whole, regenerate client stubs."""
    set_plain(plain)
    project = open_project(project_file)
    result = run_build(project, modules or None)
    fail_on_diagnostics(result.diagnostics)
    names = ", ".join(result.modules) or "no modules"
    console.print(f"built {_modules(len(result.modules))} of realm {project.realm}: {names}")
    if result.public_schema_written:
        console.print(f"wrote {display_path(project.root / project.public_schema)}")


def open_project(project_file: Path | None) -> Project:
    try:
        return warn_about(load_project(find_project_file(project_file)))
    except FtlError as exc:
        fail_with(exc)


def run_build(
    project: Project, modules: list[str] | None, *, export_public_schema: bool = True
) -> BuildResult:
    """`build_project` with a spinner on a terminal."""
    export = None if export_public_schema else False
    if is_terminal(console_err.file):
        with console_err.status("building modules..."):
            return build_project(project, modules, export_public_schema=export)
    return build_project(project, modules, export_public_schema=export)


def fail_on_diagnostics(diagnostics: list[Diagnostic]) -> None:
    """Print diagnostics with paths relative to the current directory, and exit 1 if there are any."""
    if not diagnostics:
        return
    shown = relative_diagnostics(d for d in diagnostics if d.pos is not None)
    print_diagnostics(shown, sources=_sources(shown))
    for diagnostic in diagnostics:
        if diagnostic.pos is None:
            typer.echo(f"ftl: error: {diagnostic.message}", err=True)
    raise typer.Exit(1)


def _sources(diagnostics: list[Diagnostic]) -> dict[str, str]:
    sources: dict[str, str] = {}
    for diagnostic in diagnostics:
        name = diagnostic.pos.filename if diagnostic.pos else ""
        if name and name not in sources:
            try:
                sources[name] = Path(name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
    return sources


def _modules(count: int) -> str:
    return f"{count} module{'' if count == 1 else 's'}"
