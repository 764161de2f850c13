"""`ftl serve`, `ftl call`, `ftl ps`, `ftl logs` and `ftl deploy`: the backplane from the command line.

`serve` runs a backplane in this process (no build, no watch); the others talk to a running one
through its admin API (`--endpoint`, else $FTL_ENDPOINT, else the address the project's running
`ftl dev`/`ftl serve` wrote to `.ftl/endpoint`, else http://127.0.0.1:8892).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ftl.cli.output import (
    JSON_OPTION,
    PLAIN_OPTION,
    console,
    console_err,
    fail,
    fail_with,
    is_terminal,
    print_diagnostics,
    print_json,
    relative_diagnostics,
    set_plain,
)
from ftl.client import AdminClient, CallOutcome, Deployment, resolve_endpoint
from ftl.devserver.timeline import KINDS, TimelineEvent
from ftl.errors import FtlError
from ftl.files import display_path
from ftl.project import Project, find_project_file, load_project
from ftl.verb_failures import call_summary, raised_summary, relative_traceback

ENDPOINT_OPTION = typer.Option(
    None,
    "--endpoint",
    help="Admin API of the backplane (default: $FTL_ENDPOINT, else the project's running ftl dev/serve, "
    "else http://127.0.0.1:8892).",
)
PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)

DIRS_ARGUMENT = typer.Argument(None, metavar="DIR", help="Module directories (default: all).")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("call")(call)
    app.command("ps")(ps)
    app.command("logs")(logs)
    app.command("deploy")(deploy)


# ---------------------------------------------------------------------------------------------
# serve


def serve(
    ingress_bind: str | None = typer.Option(
        None,
        "--ingress-bind",
        help="Ingress address (default: $FTL_INGRESS_BIND, else http://127.0.0.1:8891).",
    ),
    bind: str | None = typer.Option(
        None, "--bind", help="Admin API and console address (default: $FTL_BIND, else http://127.0.0.1:8892)."
    ),
    realm: str | None = typer.Option(None, "--realm", help="Realm name when serving outside a project."),
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Run the backplane (no build, no watch) until Ctrl-C; deploy into it with `ftl deploy`."""
    from ftl.devserver.admin import ServerUrls
    from ftl.devserver.server import DevServer, EndpointAdvert, ServeOptions, serve_until_signalled

    set_plain(plain)
    try:
        # A bad address is an error before anything starts (and before any file is looked at).
        options = ServeOptions.from_flags(ingress_bind, bind)
        project = _optional_project(project_file)
        realm_name = realm or (project.realm if project is not None else "local")
        from ftl.devserver.console import server_console_routes

        server = DevServer(
            project, realm=realm_name, options=options, admin_extra_routes=server_console_routes
        )

        advert = EndpointAdvert(project.root if project is not None else None)

        def ready(urls: ServerUrls) -> None:
            advert.publish(urls.admin_url)
            _print_urls(realm_name, urls)

        with advert:
            asyncio.run(serve_until_signalled(server, ready))
    except FtlError as error:
        fail_with(error)
    console_err.print("stopped")


def _optional_project(project_file: Path | None) -> Project | None:
    try:
        path = find_project_file(project_file)
    except FtlError:
        if project_file is not None:
            raise
        return None
    return load_project(path)


def _print_urls(realm: str, urls: Any) -> None:
    if is_terminal():
        console.print(f"[bold]ftl serve[/] realm [cyan]{escape(realm)}[/]")
        console.print(f"  ingress  {urls.ingress_url}")
        console.print(f"  admin    {urls.admin_url}")
        console.print(f"  console  {urls.console_url}")
        console.print("[dim]Ctrl-C to stop[/]")
    else:
        typer.echo(f"realm {realm}")
        typer.echo(f"ingress {urls.ingress_url}")
        typer.echo(f"admin {urls.admin_url}")
        typer.echo(f"console {urls.console_url}")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# call


def call(
    ctx: typer.Context,
    verb: str = typer.Argument(
        ..., metavar="MODULE.VERB", help="The verb, e.g. users.get_user or users.getUser."
    ),
    request: str | None = typer.Argument(
        None, metavar="JSON", help="The request as JSON (default {}; - reads stdin)."
    ),
    endpoint: str | None = ENDPOINT_OPTION,
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Also print the request id, its trace URL and, when the verb raised, its traceback.",
    ),
    plain: bool = PLAIN_OPTION,
) -> None:
    """Call a verb on a running backplane and print its response."""
    set_plain(plain)
    admin_url = resolve_endpoint(endpoint)
    if not is_module_verb(verb):
        raise typer.BadParameter(_not_module_verb(verb, admin_url), ctx=ctx, param_hint="'MODULE.VERB'")
    body = _request_body(request)
    try:
        with AdminClient(admin_url) as admin:
            outcome = admin.call(verb, body)
            if verbose and outcome.request_id:
                console_url = admin.status().console_url
                typer.echo(f"request id: {outcome.request_id}", err=True)
                if console_url:  # a backplane without its console has no trace page to link to
                    typer.echo(f"trace: {console_url}/trace/{outcome.request_id}", err=True)
    except FtlError as error:
        fail_with(error)
    if outcome.error is not None:
        if verbose and outcome.error.traceback:
            typer.echo(relative_traceback(outcome.error.traceback).rstrip("\n"), err=True)
        fail(call_failure_message(outcome, verb.strip()))
    print_json(outcome.body)


def is_module_verb(text: str) -> bool:
    module, dot, verb = text.strip().partition(".")
    return bool(dot and module and verb)


def _not_module_verb(text: str, admin_url: str) -> str:
    """The usage error for a verb named without its module (and what it may mean, if a backplane knows)."""
    plain = f"expected MODULE.VERB (e.g. users.get_user), got {text!r}"
    try:
        with AdminClient(admin_url, timeout=5.0) as admin:
            failure = admin.call(text).error  # answered from the schema alone: nothing runs
    except FtlError:
        return plain
    if failure is None or not failure.suggestions:
        return plain
    return f"expected MODULE.VERB, got {text!r} (did you mean {' or '.join(failure.suggestions)}?)"


def _request_body(text: str | None) -> Any:
    if text is None:
        return {}
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(
            text, parse_constant=_not_a_json_number, parse_float=_finite_float, parse_int=_integer
        )
    except (ValueError, RecursionError) as problem:  # JSONDecodeError is a ValueError
        fail(f"the request is not valid JSON: {problem}")


def _not_a_json_number(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number (JSON has no NaN or Infinity)")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # Python's limit on digits: far beyond any Int
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is too large") from None


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a JSON number (a 64-bit float)")
    return number


def call_failure_message(outcome: CallOutcome, verb: str = "") -> str:
    """The one line `ftl call` prints for a failed call: what a verb raised and where, or why the
    call failed (with close names for an unknown verb)."""
    error = outcome.error
    assert error is not None
    if error.exception:
        return f"{verb or 'the verb'} raised {raised_summary(error.exception, error.message, error.where)}"
    message = error.message
    if error.suggestions:
        message += f" (did you mean {' or '.join(error.suggestions)}?)"
    return message


# ---------------------------------------------------------------------------------------------
# ps


def ps(
    endpoint: str | None = ENDPOINT_OPTION, as_json: bool = JSON_OPTION, plain: bool = PLAIN_OPTION
) -> None:
    """List deployments: module, deployment key, state, endpoint, started at."""
    set_plain(plain)
    try:
        with AdminClient(resolve_endpoint(endpoint)) as admin:
            deployments = admin.deployments()
    except FtlError as error:
        fail_with(error)
    if as_json:
        print_json([_deployment_json(d) for d in deployments])
        return
    rows = [(d.module, d.key, d.state, d.endpoint or "-", _local_time(d.started_at)) for d in deployments]
    headers = ("MODULE", "DEPLOYMENT", "STATE", "ENDPOINT", "STARTED")
    if is_terminal():
        table = Table(*headers, box=None, pad_edge=False)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    else:
        for line in format_columns([headers, *rows]):
            typer.echo(line)


def _deployment_json(deployment: Deployment) -> dict[str, Any]:
    return {
        "key": deployment.key,
        "module": deployment.module,
        "state": deployment.state,
        "endpoint": deployment.endpoint,
        "started_at": deployment.started_at,
        "version": deployment.version,
    }


def format_columns(rows: Iterable[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns separated by two spaces."""
    materialised = list(rows)
    if not materialised:
        return []
    widths = [max(len(row[i]) for row in materialised) for i in range(len(materialised[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in materialised
    ]


def _local_time(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix)) if unix else "-"


# ---------------------------------------------------------------------------------------------
# logs


def _check_kind(kind: str) -> str:
    if kind not in (*KINDS, "all", ""):
        raise typer.BadParameter(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}, or all")
    return kind


def logs(
    target: str | None = typer.Argument(None, metavar="MODULE[.VERB]", help="Only this module or verb."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new events as they happen."),
    kind: str = typer.Option(
        "",
        "--kind",
        help=f"Event kind: {', '.join(KINDS)}, or all. Default: logs, and the errors of every kind.",
        callback=_check_kind,
        show_default=False,
    ),
    limit: int = typer.Option(100, "-n", "--limit", min=0, help="How many past events to show (0: none)."),
    endpoint: str | None = ENDPOINT_OPTION,
    as_json: bool = JSON_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Print timeline events (logs and errors by default) from a running backplane, oldest first."""
    set_plain(plain)
    wanted_kind = "log" if kind == "" else None if kind == "all" else kind
    try:
        with AdminClient(resolve_endpoint(endpoint)) as admin:
            module, verb = _log_target(admin, target) if target else (None, None)
            filters: dict[str, Any] = {"kind": wanted_kind, "module": module, "verb": verb}
            if kind == "":
                filters["with_errors"] = True
            past = in_time_order(admin.timeline(**filters, limit=limit))
            for event in past:
                _print_event(event, as_json)
            if not follow:
                return
            # The stream repeats the newest past events first: those already printed are skipped.
            printed = max((event.id for event in past), default=0)
            for event in admin.stream_timeline(**filters, backlog=limit):
                if event.id > printed:
                    _print_event(event, as_json)
            console_err.print(f"the backplane at {escape(admin.endpoint)} stopped")
    except FtlError as error:
        fail_with(error)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _log_target(admin: AdminClient, target: str) -> tuple[str, str | None]:
    """`MODULE[.VERB]` as the timeline names it (a verb in either spelling); unknown names fail.

    A name the schema no longer has is still known while the timeline holds events of it.
    """
    from ftl.devserver.admin_names import VerbNotFound, resolve_target

    found = resolve_target(admin.schema(), target)
    if not isinstance(found, VerbNotFound):
        return found
    module, dot, verb = target.strip().partition(".")
    if module and (verb or not dot) and admin.timeline(module=module, verb=verb or None, limit=1):
        return module, verb or None
    suggestions = f" (did you mean {' or '.join(found.suggestions)}?)" if found.suggestions else ""
    fail(found.message + suggestions)


def in_time_order(events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    """Oldest first. Runners report in batches, so arrival order (the id) can trail the event's time."""
    return sorted(events, key=lambda event: (event.time, event.id))


def _print_event(event: TimelineEvent, as_json: bool) -> None:
    if as_json:
        from ftl.devserver.timeline import event_to_json

        typer.echo(json.dumps(event_to_json(event), ensure_ascii=False))
    else:
        typer.echo(format_event(event))
    sys.stdout.flush()


def format_event(event: TimelineEvent) -> str:
    """`12:04:05.123 INFO  users.getUser req-ab12 message` (empty parts left out).

    A call says how it ended (`call ok`, `call failed: ValueError: ...`); a failed one has its
    user-code traceback below it, indented.
    """
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) + f".{int(event.time * 1000) % 1000:03d}"
    where = f"{event.module}.{event.verb}" if event.verb else event.module
    level = (event.level or event.kind).upper()
    message = call_summary(event) if event.kind == "call" else event.message
    parts = [stamp, f"{level:<5}", where, event.request_id, message]
    if event.duration_ms is not None:
        parts.append(f"({event.duration_ms:.1f} ms)")
    line = " ".join(part for part in parts if part)
    trace = event.data.get("traceback") if event.kind == "call" else None
    if not isinstance(trace, str) or not trace.strip():
        return line
    indented = ("    " + row for row in relative_traceback(trace).rstrip("\n").splitlines())
    return "\n".join((line, *indented))


# ---------------------------------------------------------------------------------------------
# deploy


def deploy(
    dirs: list[Path] | None = DIRS_ARGUMENT,
    endpoint: str | None = ENDPOINT_OPTION,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Build and deploy modules into a running backplane as one changeset."""
    set_plain(plain)
    try:
        module_dirs = list(dirs) if dirs else _all_module_dirs(project_file)
        if not module_dirs:
            fail("no modules to deploy")
        problems = not_module_dirs(module_dirs)
        if problems:
            fail("; ".join(problems))
        with AdminClient(resolve_endpoint(endpoint)) as admin:
            outcome = admin.deploy(module_dirs)
    except FtlError as error:
        fail_with(error)
    if not outcome.ok:
        print_diagnostics(relative_diagnostics(d for d in outcome.diagnostics if d.pos is not None))
        reasons = "; ".join(d.message for d in outcome.diagnostics if d.pos is None)
        fail(f"changeset {outcome.changeset} failed" + (f": {reasons}" if reasons else ""))
    typer.echo(f"changeset {outcome.changeset} {outcome.state.lower()}: {', '.join(outcome.deployments)}")


def not_module_dirs(dirs: Iterable[Path]) -> list[str]:
    """Why each of `dirs` that is not a module directory (one with an ftl.toml) cannot be deployed."""
    from ftl.runtime.extract import MODULE_FILE

    return [
        f"{display_path(d)} is not a module directory (it has no {MODULE_FILE})"
        for d in dirs
        if not (d / MODULE_FILE).is_file()
    ]


def _all_module_dirs(project_file: Path | None) -> list[Path]:
    from ftl.build import discover_modules

    project = load_project(find_project_file(project_file))
    return [info.directory for info in discover_modules(project)]
