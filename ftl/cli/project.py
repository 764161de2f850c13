"""`ftl init` and `ftl new`: thin commands over `ftl.scaffold`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ftl.cli.output import PLAIN_OPTION, console, fail_with, set_plain
from ftl.errors import FtlError
from ftl.project import PROJECT_FILE_NAME, find_project_file, load_project
from ftl.scaffold import Scaffold, init_project, is_inside_module_dirs, new_module, next_steps_after_init


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)
_HERE = Path(".")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
    app.command("new")(new_command)


def init_command(
    directory: Annotated[Path, typer.Argument(help="Where to create the project (default: here).")] = _HERE,
    realm: Annotated[
        str | None, typer.Option("--realm", help="The realm name (default: from the directory name).")
    ] = None,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Create an FTL project: ftl-project.toml, pytest settings, .gitignore and a README."""
    set_plain(plain)
    try:
        result = init_project(directory, realm)
        project = load_project(directory / PROJECT_FILE_NAME)
    except FtlError as error:
        fail_with(error)
    console.print(f"Created FTL project [bold]{escape(project.realm)}[/] in {escape(_shown(directory))}")
    _print_files(result)
    steps = next_steps_after_init(directory)
    width = max(len(command) for command, purpose in steps if purpose)
    console.print("Next:")
    for command, purpose in steps:
        comment = f"  [dim]# {escape(purpose)}[/]" if purpose else ""
        console.print(f"  {escape(command.ljust(width) if purpose else command)}{comment}")


def new_command(
    name: Annotated[str, typer.Argument(help="The module name (lower_snake_case).")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Parent directory of the module (default: the first module-dirs entry)."),
    ] = None,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Create a module from the scaffold: an example verb, an HTTP route under /NAME/, and a test."""
    set_plain(plain)
    try:
        project = load_project(find_project_file(project_file))
        result = new_module(project, name, directory)
    except FtlError as error:
        fail_with(error)
    console.print(f"Created module [bold]{escape(name)}[/] in {escape(_shown(result.root))}")
    _print_files(result)
    if not is_inside_module_dirs(project, result.root.parent):
        console.print(
            f"note: {escape(_shown(result.root.parent))} is not under a module-dirs entry of "
            f"{escape(_shown(project.path))}, so `ftl build` will not find it: add it there"
        )
    console.print("Next: `ftl build`, then `python -m pytest`.")


def _print_files(result: Scaffold) -> None:
    for label, paths in (("created", result.created), ("updated", result.updated), ("kept", result.kept)):
        for relative in paths:
            console.print(f"  {label} {escape(_shown(result.root / relative))}")
