"""The `ftl` command: one typer app; each command group lives in its own module.

Command groups are imported only when the command line needs them: `ftl schema validate` must
not pay for the backplane, git or the extraction stack at start-up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from ftl import __version__

# Each module exposes `register(app)`; the schema sub-app lives in `ftl.cli.schema` and the
# other schema modules add their commands to it.
ALL_GROUPS = (
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

GROUPS_BY_COMMAND: dict[str, tuple[str, ...]] = {
    "init": ("ftl.cli.project",),
    "new": ("ftl.cli.project",),
    "build": ("ftl.cli.build",),
    "config": ("ftl.cli.config",),
    "secret": ("ftl.cli.config",),
    "serve": ("ftl.cli.serve",),
    "call": ("ftl.cli.serve",),
    "ps": ("ftl.cli.serve",),
    "logs": ("ftl.cli.serve",),
    "deploy": ("ftl.cli.serve",),
    "dev": ("ftl.cli.dev",),
    "realm": ("ftl.cli.realm",),
}

SCHEMA_GROUPS_BY_SUBCOMMAND: dict[str, tuple[str, ...]] = {
    "validate": ("ftl.cli.schema",),
    "fmt": ("ftl.cli.schema",),
    "get": ("ftl.cli.schema", "ftl.cli.schema_get"),
    "diff": ("ftl.cli.schema", "ftl.cli.schema_diff"),
    "export": ("ftl.cli.schema", "ftl.cli.schema_diff"),
}

SCHEMA_GROUPS = ("ftl.cli.schema", "ftl.cli.schema_get", "ftl.cli.schema_diff")


def groups_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The command-group modules that `argv` (without the program name) needs; all for help."""
    words = [word for word in argv or () if not word.startswith("-")]
    if not words and "--version" in (argv or ()):
        return ()
    if not words:
        return ALL_GROUPS
    if words[0] == "schema":
        if len(words) > 1 and "--help" not in (argv or ()):
            return SCHEMA_GROUPS_BY_SUBCOMMAND.get(words[1], SCHEMA_GROUPS)
        return SCHEMA_GROUPS
    return GROUPS_BY_COMMAND.get(words[0], ALL_GROUPS)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ftl {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_version_callback, is_eager=True
    ),
) -> None:
    """FTL for Python."""


def create_app(groups: Sequence[str] = ALL_GROUPS) -> typer.Typer:
    """The typer app with the given command groups registered."""
    app = typer.Typer(
        name="ftl",
        help="FTL for Python: typed modules, one schema for the whole system, a fast dev loop.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name in groups:
        importlib.import_module(name).register(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    # `from ftl.cli.app import app` (tests, typer's CliRunner) gets the app with every command.
    if name == "app":
        return create_app()
    raise AttributeError(name)


def main() -> None:
    argv = sys.argv[1:]
    try:
        create_app(groups_for(argv))(argv, prog_name="ftl")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None
