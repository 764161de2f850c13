"""The admin JSON API (default 127.0.0.1:8892): what the CLI, `ftl dev` and the console talk to.

    GET  /api/status                 {"realm", "ingress_url", "admin_url", "console_url"}
    GET  /api/deployments            [{"key", "module", "state", "endpoint", "started_at", "version"}]
    GET  /api/schema                 ?module=M (repeatable) &format=text|json &public=1
    POST /api/call                   {"verb": "module.verb" (either spelling), "body": <json>}
    GET  /api/timeline               ?kind= &module= &verb= &request_id= &since= &until= &before_id= &limit=
                                     &with_errors=1 (errors of every kind too)
    GET  /api/timeline/stream        the same filters (and &backlog=N), as server-sent events
    POST /api/deploy                 {"module_dirs": [...]}
    GET  /api/realms                 pinned external realms

`admin_routes()` gives the routes so the console can be mounted beside them on the same app.
Errors are JSON: `{"error": {"kind", "message"}}` (plus `request_id` and `suggestions` on calls,
and `exception`, `where`, `traceback` when the verb raised: see `admin_errors`).

Only the developer's own tools may use it (see `admin_guard`); verb names are resolved in either
spelling, with suggestions (`admin_names`); timeline filters are parsed by `admin_timeline`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ftl.devserver.admin_errors import error_response
from ftl.devserver.admin_guard import AdminHosts, OwnToolsOnly, refuse_unless_json
from ftl.devserver.admin_names import VerbNotFound, resolve_verb
from ftl.devserver.admin_timeline import (
    DEFAULT_TIMELINE_PAGE,
    MAX_TIMELINE_PAGE,
    optional_count,
    optional_int,
    timeline_filters,
)
from ftl.devserver.ingress import IngressBackend
from ftl.devserver.routes import CallError
from ftl.devserver.sse import timeline_events
from ftl.devserver.timeline import Timeline, event_to_json
from ftl.errors import FtlError
from ftl.project import Project
from ftl.schema import ast, print_schema, to_json
from ftl.schema.jsonvalidate import normalize_json

# HTTP status for each CallError kind.
CALL_STATUS: Final = {
    "not_found": 404,
    "bad_request": 400,
    "denied": 403,
    "not_live": 503,
    "crashed": 503,
    "verb_error": 500,
    "internal": 500,
    "loop": 508,
}


@dataclass(frozen=True, slots=True)
class ServerUrls:
    ingress_url: str
    admin_url: str
    console_url: str


class _DeployResult(Protocol):
    @property
    def changeset(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def deployments(self) -> list[str]: ...
    @property
    def diagnostics(self) -> Sequence[object]: ...


class AdminBackend(IngressBackend, Protocol):
    """The part of the Backplane the admin API uses: the ingress's `schema()` and `call()`, and more."""

    @property
    def realm(self) -> str: ...
    @property
    def project(self) -> Project | None: ...

    def deployments(self) -> Sequence[Any]: ...

    async def deploy(self, module_dirs: Sequence[Path]) -> _DeployResult: ...


# ---------------------------------------------------------------------------------------------
# Handlers


class AdminApi:
    """The handlers, bound to one backplane; `routes()` lists them."""

    def __init__(self, backend: AdminBackend, timeline: Timeline, urls: ServerUrls) -> None:
        self.backend = backend
        self.timeline = timeline
        self.urls = urls

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/status", self.status, methods=["GET"]),
            Route("/api/deployments", self.deployments, methods=["GET"]),
            Route("/api/schema", self.schema, methods=["GET"]),
            Route("/api/call", self.call, methods=["POST"]),
            Route("/api/timeline", self.timeline_page, methods=["GET"]),
            Route("/api/timeline/stream", self.timeline_stream, methods=["GET"]),
            Route("/api/deploy", self.deploy, methods=["POST"]),
            Route("/api/realms", self.realms, methods=["GET"]),
        ]

    async def status(self, request: Request) -> Response:
        return JSONResponse({"realm": self.backend.realm, **asdict(self.urls)})

    async def deployments(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "key": d.key,
                    "module": d.module,
                    "state": d.state,
                    "endpoint": d.endpoint,
                    "started_at": d.started_at,
                    "version": d.version,
                }
                for d in self.backend.deployments()
            ]
        )

    async def schema(self, request: Request) -> Response:
        schema = self.backend.schema()
        if request.query_params.get("public") in ("1", "true", "yes"):
            from ftl.realm import public_schema  # late: ftl.realm loads git support, needed only here

            schema = public_schema(schema, self.backend.realm)
        modules = request.query_params.getlist("module")
        if modules:
            selected = _only_modules(schema, modules)
            if isinstance(selected, str):
                return error_response(404, "not_found", selected)
            schema = selected
        form = request.query_params.get("format", "text")
        if form == "json":
            return JSONResponse(to_json(schema))
        if form != "text":
            return error_response(400, "bad_request", f"format must be text or json, not {form!r}")
        return PlainTextResponse(print_schema(schema))

    async def call(self, request: Request) -> Response:
        response = await self._call(request)
        if request.query_params.get("errors") != "inline" or response.status_code < 400:
            return response
        # The console's form asks for errors in a 200 answer: a verb error is an outcome to show,
        # and a 4xx/5xx would be logged by the browser as a page error.
        outcome = msgspec.json.decode(bytes(response.body))
        outcome["error"]["status"] = response.status_code
        return JSONResponse(outcome)

    async def _call(self, request: Request) -> JSONResponse:
        refused = refuse_unless_json(request, request_id="")
        if refused is not None:
            return refused
        try:
            payload = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return error_response(400, "bad_request", "the request is not valid JSON", request_id="")
        if type(payload) is not dict or type(payload.get("verb")) is not str:
            message = 'expected {"verb": "module.verb", "body": ...}'
            return error_response(400, "bad_request", message, request_id="")
        schema = self.backend.schema()
        found = resolve_verb(schema, payload["verb"])
        if isinstance(found, VerbNotFound):
            suggestions = found.suggestions
            return error_response(404, "not_found", found.message, request_id="", suggestions=suggestions)
        module, verb = found
        body, problems = normalize_json(payload.get("body", {}), verb.request, schema, "request")
        if problems:
            return error_response(400, "bad_request", "; ".join(problems), request_id="")
        try:
            result = await self.backend.call(module, verb.name, msgspec.json.encode(body))
        except asyncio.CancelledError:
            # The server stops (Ctrl-C) before the call finished: a clear answer, not a traceback.
            message = "the server stopped before the call finished"
            return error_response(503, "shutting_down", message, request_id="")
        failure = result.error
        if failure is not None:
            status = CALL_STATUS.get(failure.kind, 500)
            return error_response(
                status, failure.kind, failure.message, request_id=result.request_id, raised=_raised(failure)
            )
        try:
            decoded = msgspec.json.decode(result.body) if result.body else None
        except msgspec.DecodeError:
            message = "the verb's response is not valid JSON"
            return error_response(500, "internal", message, request_id=result.request_id)
        return JSONResponse({"request_id": result.request_id, "body": decoded})

    async def timeline_page(self, request: Request) -> Response:
        try:
            filters = timeline_filters(request.query_params)
            before_id = optional_int(request.query_params.get("before_id"), "before_id")
            limit = optional_count(request.query_params.get("limit"), "limit")
        except ValueError as problem:
            return error_response(400, "bad_request", str(problem))
        limit = DEFAULT_TIMELINE_PAGE if limit is None else min(limit, MAX_TIMELINE_PAGE)
        events = self.timeline.query(**filters, before_id=before_id, limit=limit)
        return JSONResponse([event_to_json(e) for e in events])

    async def timeline_stream(self, request: Request) -> Response:
        try:
            filters = timeline_filters(request.query_params)
            backlog = optional_count(request.query_params.get("backlog"), "backlog") or 0
        except ValueError as problem:
            return error_response(400, "bad_request", str(problem))
        for unsupported in ("since", "until"):
            filters.pop(unsupported, None)
        return StreamingResponse(
            event_stream(self.timeline, filters, backlog),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def deploy(self, request: Request) -> Response:
        refused = refuse_unless_json(request)
        if refused is not None:
            return refused
        try:
            payload = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return error_response(400, "bad_request", "the request is not valid JSON")
        dirs = payload.get("module_dirs") if type(payload) is dict else None
        if type(dirs) is not list or not dirs or any(type(d) is not str for d in dirs):
            return error_response(400, "bad_request", 'expected {"module_dirs": ["path", ...]}')
        base = self.backend.project.root if self.backend.project is not None else Path.cwd()
        try:
            result = await self.backend.deploy([(base / d).resolve() for d in dirs])
        except FtlError as problem:
            return error_response(400, "bad_request", str(problem))
        return JSONResponse(
            {
                "changeset": result.changeset,
                "state": str(result.state),
                "deployments": list(result.deployments),
                "diagnostics": [str(d) for d in result.diagnostics],
            }
        )

    async def realms(self, request: Request) -> Response:
        project = self.backend.project
        pins = {pin.name: pin for pin in project.realms} if project is not None else {}
        schema = self.backend.schema()
        listed = []
        for realm in schema.realms:
            if not realm.external:
                continue
            pin = pins.pop(realm.name, None)
            listed.append(_realm_json(realm.name, pin, realm))
        listed.extend(_realm_json(name, pin, None) for name, pin in pins.items())
        return JSONResponse(sorted(listed, key=lambda r: r["name"]))


def _raised(failure: object) -> dict[str, str]:
    """What the verb raised, where the backend knows it (the backplane's CallError does)."""
    if not isinstance(failure, CallError):
        return {}
    given = {"exception": failure.exception, "where": failure.where, "traceback": failure.traceback}
    return {name: value for name, value in given.items() if value}


def _realm_json(name: str, pin: Any, realm: ast.Realm | None) -> dict[str, Any]:
    modules = [m for m in realm.modules if not m.builtin] if realm is not None else []
    return {
        "name": name,
        "git_repo": pin.git_repo if pin else "",
        "git_branch": pin.git_branch if pin else "",
        "git_commit": pin.git_commit if pin else "",
        "git_path": pin.git_path if pin else "",
        "loaded": realm is not None,
        "modules": [m.name for m in modules],
        "verbs": [f"{m.name}.{v.name}" for m in modules for v in m.verbs()],
    }


def _only_modules(schema: ast.Schema, names: list[str]) -> ast.Schema | str:
    realms = []
    found: set[str] = set()
    for realm in schema.realms:
        if realm.external:
            continue
        kept = tuple(m for m in realm.modules if m.name in names)
        found.update(m.name for m in kept)
        realms.append(ast.replace(realm, modules=kept))
    missing = [name for name in names if name not in found]
    if missing:
        return f"unknown module {', '.join(missing)}"
    return ast.Schema(tuple(realms))


def event_stream(timeline: Timeline, filters: dict[str, Any], backlog: int) -> AsyncIterator[bytes]:
    """Server-sent events: one JSON event per message."""
    return timeline_events(timeline, filters, backlog, lambda e: msgspec.json.encode(event_to_json(e)))


def create_admin_app(
    backend: AdminBackend,
    timeline: Timeline,
    urls: ServerUrls,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    bound_hosts: Iterable[str] = (),
) -> Starlette:
    """The admin API, plus `extra_routes` (the console's pages) on the same app, for the developer's
    own tools only (see the module docstring). `bound_hosts`: the host names it was bound with."""
    hosts = AdminHosts.of(urls.admin_url, bound_hosts)
    return Starlette(
        routes=[*AdminApi(backend, timeline, urls).routes(), *extra_routes],
        middleware=[Middleware(OwnToolsOnly, hosts=hosts)],
    )
