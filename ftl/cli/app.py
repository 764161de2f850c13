"""The `ftl` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import importlib

import typer

from ftl import __version__
from ftl.cli.output import console_err

# Command-group modules, each exposing `register(app)`. Kept as names so a group that fails to
# import breaks only its own commands' tests, not `ftl --help`.
COMMAND_GROUPS = (
    "ftl.cli.schema",
    "ftl.cli.schema_get",
    "ftl.cli.schema_diff",
    "ftl.cli.project",
    "ftl.cli.build",
    "ftl.cli.config",
    "ftl.cli.serve",
    "ftl.cli.dev",
    "ftl.cli.realm",
)

app = typer.Typer(
    name="ftl",
    help="FTL for Python: typed modules, one schema for the whole system, a fast dev loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ftl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_version_callback, is_eager=True
    ),
) -> None:
    """FTL for Python."""


for _name in COMMAND_GROUPS:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console_err.print("interrupted")
        raise SystemExit(130) from None
