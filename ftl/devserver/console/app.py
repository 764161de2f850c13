"""The console's pages: Starlette routes rendering Jinja2 templates from the live backplane state.

Every route is a GET that reads the schema, the deployments or the timeline; the only thing a
page can do to the system is call a verb, and the verb form does that through the admin API's
`POST /api/call`, never through a route of its own. Live parts (the timeline, a trace, the
module list) follow `/timeline/live`, a server-sent event stream of rendered table rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ftl.devserver.console import views
from ftl.devserver.console.formatting import FILTERS, TESTS
from ftl.devserver.console.graph import EDGE_KINDS, module_graph, render_svg
from ftl.devserver.console.samples import sample_request
from ftl.devserver.console.trace import build_trace
from ftl.devserver.sse import timeline_events
from ftl.devserver.timeline import KINDS, Timeline, TimelineEvent
from ftl.project import Project
from ftl.schema import ast

__all__ = ["Console", "ConsoleBackend", "console_routes", "server_console_routes"]

HERE: Final = Path(__file__).parent
TEMPLATES_DIR: Final = HERE / "templates"
STATIC_DIR: Final = HERE / "static"
PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 500
MAX_TRACE_EVENTS: Final = 5000
RECENT_CALLS: Final = 10
LIVE_BACKLOG: Final = 500
FILTER_NAMES: Final = ("kind", "module", "verb", "request_id")


class ConsoleBackend(Protocol):
    """The part of the Backplane the console reads."""

    @property
    def realm(self) -> str: ...
    @property
    def project(self) -> Project | None: ...

    def schema(self) -> ast.Schema: ...
    def deployments(self) -> Sequence[views.Deployment]: ...
    def failed_deploys(self) -> Mapping[str, views.FailedDeploy]: ...


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    env.globals.update(
        kinds=KINDS,
        summary=views.event_summary,
        details=views.event_details,
        signature=views.signature,
        visibility=views.visibility,
    )
    return env


class Console:
    """The page handlers, bound to one backplane and its timeline; `routes()` lists them."""

    def __init__(self, backend: ConsoleBackend, timeline: Timeline) -> None:
        self.backend = backend
        self.timeline = timeline
        self.templates = Jinja2Templates(env=_environment())

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.modules, methods=["GET"], name="console_modules"),
            Route("/modules/{name}", self.module, methods=["GET"]),
            Route("/verbs/{module}/{verb}", self.verb, methods=["GET"]),
            Route("/timeline", self.timeline_page, methods=["GET"]),
            Route("/timeline/live", self.timeline_live, methods=["GET"]),
            Route("/trace/{request_id}", self.trace, methods=["GET"]),
            Route("/graph", self.graph, methods=["GET"]),
            Route("/realms", self.realms, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="console_static"),
        ]

    def _page(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        newest = self.timeline.query(limit=1)
        # Live parts ask the stream for what came after this, so nothing between render and connect is lost.
        base = {
            "realm": self.backend.realm,
            "path": request.url.path,
            "latest_id": newest[0].id if newest else 0,
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def _not_found(self, request: Request, what: str) -> Response:
        return self._page(request, "not_found.html", {"title": "Not found", "what": what}, status=404)

    # -- modules ----------------------------------------------------------------------------------

    async def modules(self, request: Request) -> Response:
        rows = views.module_rows(
            self.backend.schema(), self.backend.deployments(), self.backend.failed_deploys()
        )
        template = "_modules_table.html" if request.query_params.get("partial") else "modules.html"
        return self._page(request, template, {"title": "Modules", "rows": rows})

    async def module(self, request: Request) -> Response:
        name = request.path_params["name"]
        schema = self.backend.schema()
        module = views.find_module(schema, name)
        if module is None:
            return self._not_found(request, f"module {name}")
        deployments = [d for d in self.backend.deployments() if d.module == name]
        return self._page(
            request,
            "module.html",
            {
                "title": f"Module {name}",
                "module": module,
                "schema_html": views.highlighted_module(schema, module),
                "groups": views.decl_groups(module),
                "deployments": sorted(deployments, key=lambda d: d.version, reverse=True),
            },
        )

    async def verb(self, request: Request) -> Response:
        module_name, verb_name = request.path_params["module"], request.path_params["verb"]
        schema = self.backend.schema()
        found = views.find_verb(schema, module_name, verb_name)
        if found is None:
            return self._not_found(request, f"verb {module_name}.{verb_name}")
        module, verb = found
        sample = sample_request(verb, schema, module=module.name)
        recent = self.timeline.query(kind="call", module=module.name, verb=verb.name, limit=RECENT_CALLS)
        return self._page(
            request,
            "verb.html",
            {
                "title": f"{module.name}.{verb.name}",
                "module": module,
                "verb": verb,
                "signature_html": views.highlighted_decl(schema, verb),
                "sample": json.dumps(sample, indent=2, ensure_ascii=False),
                "recent": recent,
            },
        )

    # -- timeline and traces ----------------------------------------------------------------------

    async def timeline_page(self, request: Request) -> Response:
        params = request.query_params
        filters = _filters(params)
        before_id = _int(params.get("before_id"))
        limit = min(max(_int(params.get("limit")) or PAGE_SIZE, 1), MAX_PAGE_SIZE)
        # One more than shown tells whether there is an older page.
        events = self.timeline.query(**filters, before_id=before_id, limit=limit + 1)
        older = events[limit - 1].id if len(events) > limit else None
        schema = self.backend.schema()
        own = views.own_modules(schema)
        return self._page(
            request,
            "timeline.html",
            {
                "title": "Timeline",
                "events": events[:limit],
                "filters": {name: params.get(name, "") for name in FILTER_NAMES},
                "query": _query(filters),
                "older": older,
                "paged": before_id is not None,
                "limit": limit,
                "modules": sorted(m.name for m in own),
                "verbs": sorted({v.name for m in own for v in m.verbs()}),
                "total": len(self.timeline),
            },
        )

    async def timeline_live(self, request: Request) -> Response:
        """Server-sent events, each `{"id", "html"}` with one rendered timeline row.

        `after` (or the browser's `Last-Event-ID` on a reconnect) replays the matching events since
        that id, up to LIVE_BACKLOG of them; `after=0` replays from the start. Where the stream
        had to drop events, it says `resync` (see `ftl.devserver.sse`) and the page asks again.
        """
        filters = _filters(request.query_params)
        given = [_int(request.query_params.get("after")), _int(request.headers.get("last-event-id"))]
        known = [after for after in given if after is not None]
        row = self.templates.env.get_template("_event_row.html")
        return StreamingResponse(
            _live_rows(self.timeline, filters, max(known, default=None), lambda event: row.render(e=event)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def trace(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]
        events = self.timeline.query(request_id=request_id, limit=MAX_TRACE_EVENTS)
        trace = build_trace(request_id, events)
        partial = bool(request.query_params.get("partial"))
        return self._page(
            request,
            "_trace_body.html" if partial else "trace.html",
            {
                "title": f"Trace {request_id}",
                "trace": trace,
                "request_id": request_id,
                "truncated": len(events) >= MAX_TRACE_EVENTS,
            },
        )

    # -- graph and realms -------------------------------------------------------------------------

    async def graph(self, request: Request) -> Response:
        graph = module_graph(self.backend.schema())
        return self._page(
            request,
            "graph.html",
            {"title": "Graph", "graph": graph, "svg": render_svg(graph), "edge_kinds": EDGE_KINDS},
        )

    async def realms(self, request: Request) -> Response:
        project = self.backend.project
        pins = project.realms if project is not None else ()
        schema = self.backend.schema()
        return self._page(
            request,
            "realms.html",
            {
                "title": "Realms",
                "realms": views.realm_views(schema, pins),
            },
        )


def _int(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _filters(params: Mapping[str, str]) -> dict[str, Any]:
    return {name: (params.get(name) or "").strip() or None for name in FILTER_NAMES}


def _query(filters: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in filters.items() if v})


def _live_rows(
    timeline: Timeline,
    filters: dict[str, Any],
    after: int | None,
    render: Callable[[TimelineEvent], str],
) -> AsyncIterator[bytes]:
    """Rendered rows of the events after `after` (None: only those from now on)."""
    shown = after or 0

    def encode(event: TimelineEvent) -> bytes | None:
        if event.id <= shown:  # the page already shows it
            return None
        return json.dumps({"id": event.id, "html": render(event)}, ensure_ascii=False).encode()

    return timeline_events(timeline, filters, 0 if after is None else LIVE_BACKLOG, encode)


def console_routes(backend: ConsoleBackend, timeline: Timeline) -> list[BaseRoute]:
    """The console's routes, to mount on the admin app beside the API."""
    return Console(backend, timeline).routes()


class _Server(Protocol):
    @property
    def backplane(self) -> Any: ...
    @property
    def timeline(self) -> Timeline: ...


def server_console_routes(server: _Server) -> list[BaseRoute]:
    """`console_routes` for a DevServer, as in `DevServer(..., admin_extra_routes=server_console_routes)`."""
    return console_routes(server.backplane, server.timeline)
