"""`ftl config ...` and `ftl secret ...`: list, get, set and unset values (see ftl.configstore)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ftl.cli.output import (
    JSON_OPTION,
    PLAIN_OPTION,
    console,
    console_err,
    fail_with,
    is_terminal,
    print_json,
    set_plain,
)
from ftl.configstore import (
    Entry,
    Kind,
    declared_schema,
    env_secret_problems,
    get_value,
    list_values,
    parse_key,
    parse_value,
    set_value,
    undeclared_problem,
    unset_value,
)
from ftl.errors import FtlError
from ftl.project import Project, find_project_file, load_project

PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)

config_app = typer.Typer(
    name="config",
    help="Module configuration, stored in ftl-project.toml. Values are JSON.",
    no_args_is_help=True,
)
secret_app = typer.Typer(
    name="secret",
    help="Module secrets: kept out of git in .ftl/secrets.toml (mode 0600), or read from the environment "
    "as FTL_SECRET_<MODULE>_<NAME>.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(secret_app, name="secret")


def _project(project_file: Path | None) -> Project:
    return load_project(find_project_file(project_file))


def _add_commands(group: typer.Typer, kind: Kind) -> None:
    noun = "config value" if kind == "config" else "secret"

    @group.command("list")
    def list_command(
        module: str | None = typer.Argument(None, help="Only this module's values (and project-level ones)."),
        json_output: bool = JSON_OPTION,
        project_file: Path | None = PROJECT_FILE_OPTION,
        plain: bool = PLAIN_OPTION,
    ) -> None:
        set_plain(plain)
        try:
            project = _project(project_file)
            entries = list_values(project, kind)
        except FtlError as error:
            fail_with(error)
        if module is not None:
            entries = [e for e in entries if e.key.module in ("", module)]
        if json_output:
            print_json([_as_json(e, kind) for e in entries])
            return
        for entry in entries:
            console.print(escape(_as_line(entry, kind)))
        if kind == "secret" and any(e.source.startswith("env ") for e in entries):
            schema = declared_schema(project)
            for problem in env_secret_problems(schema, entries) if schema is not None else []:
                console_err.print(f"warning: {escape(problem)}")
        if not entries:
            # A hint, not data: stdout stays empty for scripts.
            console_err.print(f"no {noun}s set (add one with `ftl {kind} set [MODULE.]NAME VALUE`)")

    list_command.__doc__ = (
        "List config values (JSON)."
        if kind == "config"
        else "List secrets and where each comes from (never values)."
    )

    @group.command("get")
    def get_command(
        key: str = typer.Argument(..., help="[MODULE.]NAME"),
        project_file: Path | None = PROJECT_FILE_OPTION,
        plain: bool = PLAIN_OPTION,
    ) -> None:
        set_plain(plain)
        try:
            entry = get_value(_project(project_file), kind, parse_key(key))
        except FtlError as error:
            fail_with(error)
        print_json(entry.value)

    get_command.__doc__ = f"Print a {noun} as JSON (a module's own, else the project-level one)."

    @group.command("set")
    def set_command(
        key: str = typer.Argument(..., help="[MODULE.]NAME"),
        value: str | None = typer.Argument(None, help="A JSON value (default: read from stdin)."),
        no_validate: bool = typer.Option(
            False, "--no-validate", help="Skip checking the value against the declared type."
        ),
        project_file: Path | None = PROJECT_FILE_OPTION,
        plain: bool = PLAIN_OPTION,
    ) -> None:
        set_plain(plain)
        # Late: only `set` needs the realm machinery (and git with it).
        from ftl.realm.endpoints import (
            check_realm_endpoint,
            overriding_variable,
            realm_of_endpoint,
            unpinned_realm_problem,
        )

        try:
            parsed_key = parse_key(key)
            parsed = parse_value(value if value is not None else _read_value(kind, str(parsed_key)))
            project = _project(project_file)
            endpoint_of = realm_of_endpoint(kind, parsed_key)
            schema = None
            if endpoint_of is not None:
                if not no_validate:
                    check_realm_endpoint(endpoint_of, parsed_key, parsed)
            elif not no_validate:
                with _status("checking the declared type"):
                    schema = declared_schema(project)
            set_value(project, kind, parsed_key, parsed, schema=schema)
            effective = get_value(project, kind, parsed_key)
        except FtlError as error:
            fail_with(error)
        console.print(f"set {kind} {escape(str(parsed_key))}")
        if endpoint_of is not None:
            note = unpinned_realm_problem(project, endpoint_of)
        else:
            note = undeclared_problem(schema, kind, parsed_key) if schema is not None else None
        if note:
            console_err.print(f"note: {escape(note)}")
        overridden_by = overriding_variable(endpoint_of) if endpoint_of is not None else None
        if effective.source.startswith("env "):
            overridden_by = effective.source[4:]
        if overridden_by:
            console.print(f"note: {escape(overridden_by)} is set and takes precedence")

    set_command.__doc__ = f"Set a {noun}; the value is JSON, checked against the declared type if any."

    @group.command("unset")
    def unset_command(
        key: str = typer.Argument(..., help="[MODULE.]NAME"),
        project_file: Path | None = PROJECT_FILE_OPTION,
        plain: bool = PLAIN_OPTION,
    ) -> None:
        set_plain(plain)
        try:
            parsed_key = parse_key(key)
            unset_value(_project(project_file), kind, parsed_key)
        except FtlError as error:
            fail_with(error)
        console.print(f"unset {kind} {escape(str(parsed_key))}")

    unset_command.__doc__ = f"Remove a stored {noun}."


def _read_value(kind: Kind, key: str) -> str:
    if sys.stdin.isatty():
        text: str = typer.prompt(f"{key} (JSON)", hide_input=kind == "secret")
        return text
    return sys.stdin.read().strip()


@contextlib.contextmanager
def _status(message: str) -> Iterator[None]:
    if is_terminal():
        with console.status(message):
            yield
    else:
        yield


def _as_json(entry: Entry, kind: Kind) -> dict[str, Any]:
    item: dict[str, Any] = {"module": entry.key.module or None, "name": entry.key.name}
    if kind == "config":
        item["value"] = entry.value
    item["source"] = entry.source
    return item


def _as_line(entry: Entry, kind: Kind) -> str:
    if kind == "config":
        return f"{entry.key} = {json.dumps(entry.value)}"
    return f"{entry.key}  ({entry.source})"


_add_commands(config_app, "config")
_add_commands(secret_app, "secret")
