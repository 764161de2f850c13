"""`ftl dev`: serve the project with hot reload, showing a live status block on a terminal.

The dev loop lives in `ftl.devserver.devloop`; this module only parses flags and renders its
events (`describe`) and the status model (`ftl.devserver.status`) with rich, or as plain lines
when stdout is not a terminal or `--plain` is given.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ftl.cli.output import PLAIN_OPTION, console, fail_with, set_plain, warn_about
from ftl.devserver.dev_events import DevEvent, describe
from ftl.devserver.dev_session import run_dev
from ftl.devserver.status import DevStatus, ModuleState, status_fields
from ftl.errors import FtlError
from ftl.project import find_project_file, load_project

if TYPE_CHECKING:
    from ftl.devserver.admin import ServerUrls

STATE_STYLES: dict[ModuleState, str] = {
    ModuleState.PENDING: "dim",
    ModuleState.BUILDING: "yellow",
    ModuleState.SERVING: "green",
    ModuleState.FAILED: "red",
    ModuleState.CRASHED: "magenta",
}
EVENT_STYLES: dict[str, str] = {
    "ready": "bold green",
    "deployed": "green",
    "failed": "red",
    "slow": "yellow",
    "warning": "yellow",
    "notice": "cyan",
    "call": "red",
    "crashed": "magenta",
    "restarted": "yellow",
    "added": "cyan",
    "removed": "cyan",
    "log": "dim",
}


def register(app: typer.Typer) -> None:
    app.command("dev")(dev)


NO_CONSOLE_OPTION = typer.Option(
    False, "--no-console", help="Serve the admin API without the web console pages."
)
INGRESS_BIND_OPTION = typer.Option(
    None, "--ingress-bind", help="Ingress address (default: $FTL_INGRESS_BIND, else http://127.0.0.1:8891)."
)
BIND_OPTION = typer.Option(
    None, "--bind", help="Console and admin API address (default: $FTL_BIND, else http://127.0.0.1:8892)."
)
PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)


def dev(
    no_console: bool = NO_CONSOLE_OPTION,
    ingress_bind: str | None = INGRESS_BIND_OPTION,
    bind: str | None = BIND_OPTION,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Build and deploy every module, then watch the sources and hot-redeploy what changes."""
    from ftl.devserver.server import EndpointAdvert, ServeOptions

    set_plain(plain)
    try:
        project = warn_about(load_project(find_project_file(project_file)))
        options = ServeOptions.from_flags(ingress_bind, bind)
    except FtlError as error:
        fail_with(error)
    status = DevStatus()
    # NO_COLOR only takes the colour away; --plain or a pipe also take the live block away.
    view = LiveView(status) if sys.stdout.isatty() and not plain else PlainView()
    started = time.perf_counter()
    advert = EndpointAdvert(project.root)

    def ready(urls: ServerUrls) -> None:
        advert.publish(urls.admin_url)  # before the URLs are shown: whoever reads them can `ftl call`
        view.startup(project.realm, urls, console=not no_console, seconds=time.perf_counter() - started)

    try:
        with view, advert:
            asyncio.run(
                run_dev(project, view.show, ready, options=options, status=status, console=not no_console)
            )
    except FtlError as error:
        fail_with(error)
    view.stopped()


class PlainView:
    """One line per event on stdout, flushed at once (tests and pipes read it as it comes)."""

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def startup(self, realm: str, urls: ServerUrls, *, console: bool, seconds: float) -> None:
        pages = f"console {urls.console_url}" if console else f"admin {urls.admin_url}"
        self._write(f"ftl dev: realm {realm}, ingress {urls.ingress_url}, {pages}")

    def show(self, event: DevEvent) -> None:
        for line in describe(event):
            self._write(line)

    def stopped(self) -> None:
        self._write("stopped")

    def _write(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class LiveView:
    """Events scroll above a live block with one status line per module."""

    def __init__(self, status: DevStatus) -> None:
        self._status = status
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4, transient=True)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._live.stop()

    def startup(self, realm: str, urls: ServerUrls, *, console: bool, seconds: float) -> None:
        pages = (
            f"console [link={urls.console_url}]{urls.console_url}[/]"
            if console
            else f"admin {urls.admin_url}"
        )
        self._live.console.print(
            f"[bold]ftl dev[/] realm [cyan]{escape(realm)}[/]  ingress [link={urls.ingress_url}]"
            f"{urls.ingress_url}[/]  {pages}  [dim]Ctrl-C to stop[/]"
        )

    def show(self, event: DevEvent) -> None:
        style = EVENT_STYLES.get(event.kind, "")
        if event.kind == "log" and event.level in ("error", "warn", "warning"):
            style = "yellow"
        detail = {"failed": "bold", "call": "dim"}.get(event.kind, style)
        for index, line in enumerate(describe(event)):
            self._live.console.print(Text(line, style=style if index == 0 else detail))

    def stopped(self) -> None:
        console.print("[dim]stopped[/]")

    def _render(self) -> RenderableType:
        now = time.time()
        table = Table.grid(padding=(0, 2))
        for _ in range(5):
            table.add_column(no_wrap=True)
        for row in self._status.rows():
            icon, name, version, reload, note = status_fields(row, now)
            style = STATE_STYLES[row.state]
            table.add_row(
                Text(icon, style=style), Text(name, style="bold"), version, reload, Text(note, style=style)
            )
        return table
