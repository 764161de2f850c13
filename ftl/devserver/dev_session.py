"""`ftl dev` as a whole: the servers and the dev loop, from start until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ftl.devserver.dev_events import DevEvent
from ftl.devserver.devloop import DevLoop
from ftl.devserver.status import DevStatus
from ftl.project import Project

if TYPE_CHECKING:
    from ftl.devserver.admin import ServerUrls
    from ftl.devserver.server import ServeOptions


async def run_dev(
    project: Project,
    report: Callable[[DevEvent], None],
    on_ready: Callable[[ServerUrls], None],
    *,
    options: ServeOptions | None = None,
    status: DevStatus | None = None,
    console: bool = True,
) -> None:
    """Serve `project` with hot reload until SIGINT/SIGTERM, then stop everything it started.

    `on_ready` gets the bound URLs as soon as the servers listen (before the first deploy ends).
    `console=False` serves the admin API without the web console's pages.
    """
    from ftl.devserver.console import server_console_routes
    from ftl.devserver.server import DevServer, stop_on_signals

    pages = server_console_routes if console else None
    server = DevServer(project, realm=project.realm, options=options, admin_extra_routes=pages)
    loop = DevLoop(project, server.backplane, report, status=status, timeline=server.timeline)
    with stop_on_signals(server):
        running: asyncio.Task[None] | None = None
        try:
            await server.start()
            on_ready(server.urls)
            running = asyncio.create_task(loop.run())
            stopped = asyncio.create_task(server.wait_stopped())
            done, _ = await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if running in done:
                running.result()
        finally:
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await loop.close()
            await server.stop()
