"""`ftl schema get`: the project's schema, computed from sources or read from a running backplane."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ftl.cli.build import PROJECT_FILE_OPTION, fail_on_diagnostics, open_project, run_build
from ftl.cli.output import JSON_OPTION, PLAIN_OPTION, fail_with, print_json, set_plain
from ftl.schema import ast


def register(app: typer.Typer) -> None:
    from ftl.cli.schema import schema_app

    schema_app.command("get")(get)


def get(
    json_output: bool = JSON_OPTION,
    modules: Annotated[
        list[str] | None, typer.Option("--module", "-m", help="Only this module (repeatable).")
    ] = None,
    public: bool = typer.Option(False, "--public", help="Only what this realm exports to other realms."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Ask a running backplane's admin API (e.g. http://127.0.0.1:8892)."
    ),
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Print the project schema as FTL schema text (or JSON); from the sources unless --endpoint."""
    set_plain(plain)
    if endpoint:
        _from_endpoint(endpoint, json_output, modules or [], public)
        return
    project = open_project(project_file)
    result = run_build(project, modules or None, export_public_schema=False)
    fail_on_diagnostics(result.diagnostics)
    assert result.schema is not None
    schema = result.schema
    if public:
        from ftl.errors import FtlError
        from ftl.realm import public_schema

        try:
            schema = public_schema(schema, project.realm)
        except FtlError as error:
            fail_on_diagnostics(error.diagnostics)  # positioned, relative to here, as `ftl build` has them
    if modules:
        schema = select_modules(schema, project.realm, modules)
    _print(schema, json_output)


def select_modules(schema: ast.Schema, realm: str, modules: list[str]) -> ast.Schema:
    """Only the named modules of the internal realm `realm` (no builtin module, no other realms)."""
    wanted = set(modules)
    selected = tuple(
        ast.Realm(r.name, tuple(m for m in r.modules if m.name in wanted), pos=r.pos)
        for r in schema.realms
        if r.name == realm and not r.external
    )
    return ast.Schema(selected, pos=schema.pos)


def _print(schema: ast.Schema, json_output: bool) -> None:
    from ftl.schema import print_schema, to_json

    if json_output:
        print_json(to_json(schema))
    else:
        typer.echo(print_schema(schema), nl=False)


def _from_endpoint(endpoint: str, json_output: bool, modules: list[str], public: bool) -> None:
    from ftl.client import AdminClient, resolve_endpoint
    from ftl.errors import FtlError

    client = AdminClient(resolve_endpoint(endpoint))
    try:
        if json_output:
            print_json(client.schema_json(modules, public=public))
        else:
            text = client.schema_text(modules, public=public)
            typer.echo(text, nl=not text.endswith("\n"))
    except FtlError as error:
        fail_with(error)
