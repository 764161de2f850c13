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
and `exception`, `where`, `traceback` when the verb raised).

Only the developer's own tools may use it, not any web page their browser happens to open: a
request must name this server in its Host (a loopback name or address, or the host it is bound to:
no DNS rebinding), an Origin must be the server's own (the console's pages), and POSTs must be
`Content-Type: application/json` (which a page of another site cannot send without asking first).
"""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ftl.devserver.ingress import IngressBackend
from ftl.devserver.routes import CallError
from ftl.devserver.sse import timeline_events
from ftl.devserver.timeline import Timeline, event_to_json
from ftl.errors import FtlError
from ftl.names import lower_camel
from ftl.project import Project
from ftl.schema import ast, print_schema, to_json
from ftl.schema.jsonvalidate import normalize_json

MAX_TIMELINE_PAGE: Final = 1000
DEFAULT_TIMELINE_PAGE: Final = 100
JSON_MEDIA_TYPE: Final = "application/json"

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


def error_response(
    status: int,
    kind: str,
    message: str,
    *,
    request_id: str | None = None,
    suggestions: list[str] | None = None,
    raised: Mapping[str, str] | None = None,
) -> JSONResponse:
    """`{"error": {"kind", "message"}}`, with `request_id` (and `suggestions`) for calls.

    `raised` adds what a verb that raised tells its developer: `exception`, `where`, `traceback`.
    """
    error: dict[str, Any] = {"kind": kind, "message": message}
    if suggestions is not None:
        error["suggestions"] = suggestions
    if raised:
        error.update(raised)
    body: dict[str, Any] = (
        {"error": error} if request_id is None else {"request_id": request_id, "error": error}
    )
    return JSONResponse(body, status_code=status)


# ---------------------------------------------------------------------------------------------
# Verb lookup (either spelling) with suggestions


@dataclass(frozen=True, slots=True)
class VerbNotFound:
    message: str
    suggestions: list[str]


def resolve_verb(schema: ast.Schema, text: str) -> tuple[str, ast.Verb] | VerbNotFound:
    """`users.get_user` or `users.getUser` → (module, verb) of the internal realm, or why not."""
    module_name, dot, verb_name = text.strip().partition(".")
    names = _verb_names(schema)
    if not dot or not module_name or not verb_name:
        return VerbNotFound(f"expected MODULE.VERB, got {text!r}", _suggest_for_part(text, names))
    for realm in schema.internal_realms():
        module = realm.module(module_name)
        if module is None:
            continue
        for candidate in (verb_name, lower_camel(verb_name)):
            decl = module.decl(candidate)
            if isinstance(decl, ast.Verb):
                return module.name, decl
    module_verbs = [name for name in names if name.split(".")[0] == module_name]
    if module_verbs:
        # The module is right: only its verbs are candidates, compared by verb name.
        suggestions = _suggest(lower_camel(verb_name), [name.split(".", 1)[1] for name in module_verbs])
        return VerbNotFound(
            f"module {module_name} has no verb {verb_name}", [f"{module_name}.{v}" for v in suggestions]
        )
    wanted = lower_camel(verb_name)
    same_verb = [name for name in names if name.split(".", 1)[1] == wanted]
    close_modules = _suggest(module_name, sorted({name.split(".")[0] for name in same_verb}))
    if close_modules:
        # Only the module is misspelled: the verb of that name in the modules it is close to.
        return VerbNotFound(f"unknown verb {text}", [f"{module}.{wanted}" for module in close_modules])
    return VerbNotFound(f"unknown verb {text}", _suggest(f"{module_name}.{wanted}", names))


def resolve_target(schema: ast.Schema, text: str) -> tuple[str, str | None] | VerbNotFound:
    """`users` or `users.get_user` (either spelling) → (module, schema verb name or None), or why not."""
    module_name, dot, _ = text.strip().partition(".")
    if dot:
        found = resolve_verb(schema, text)
        return found if isinstance(found, VerbNotFound) else (found[0], found[1].name)
    modules = _module_names(schema)
    if module_name in modules:
        return module_name, None
    return VerbNotFound(f"unknown module {module_name}", _suggest(module_name, modules))


def _module_names(schema: ast.Schema) -> list[str]:
    return [
        module.name for realm in schema.internal_realms() for module in realm.modules if not module.builtin
    ]


def _suggest_for_part(text: str, names: list[str]) -> list[str]:
    """For a bare name (`get_user`): the verbs of that name in any module, else close names."""
    wanted = lower_camel(text.strip(". ")).lower()
    same_verb = [name for name in names if name.split(".", 1)[1].lower() == wanted]
    return same_verb[:3] or _suggest(text, names)


def _verb_names(schema: ast.Schema) -> list[str]:
    return [
        f"{module.name}.{verb.name}"
        for realm in schema.internal_realms()
        for module in realm.modules
        if not module.builtin
        for verb in module.verbs()
    ]


def _suggest(text: str, names: list[str]) -> list[str]:
    by_lower = {name.lower(): name for name in names}
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[name] for name in close]


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
            filters = _timeline_filters(request.query_params)
            before_id = _optional_int(request.query_params.get("before_id"), "before_id")
            limit = _optional_count(request.query_params.get("limit"), "limit")
        except ValueError as problem:
            return error_response(400, "bad_request", str(problem))
        limit = DEFAULT_TIMELINE_PAGE if limit is None else min(limit, MAX_TIMELINE_PAGE)
        events = self.timeline.query(**filters, before_id=before_id, limit=limit)
        return JSONResponse([event_to_json(e) for e in events])

    async def timeline_stream(self, request: Request) -> Response:
        try:
            filters = _timeline_filters(request.query_params)
            backlog = _optional_count(request.query_params.get("backlog"), "backlog") or 0
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


def refuse_unless_json(request: Request, *, request_id: str | None = None) -> JSONResponse | None:
    """415 for a body not declared JSON: a page of another site can send text/plain to any
    address without the browser asking the server first, but not application/json."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        return None
    given = f"not {media_type}" if media_type else "no Content-Type was given"
    message = f"the body must be sent as Content-Type: {JSON_MEDIA_TYPE} ({given})"
    return error_response(415, "unsupported_media_type", message, request_id=request_id)


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


def _optional_int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {text!r}") from None


def _optional_count(text: str | None, name: str) -> int | None:
    """A number of events: absent, or an integer from 0 up (0 asks for none)."""
    count = _optional_int(text, name)
    if count is not None and count < 0:
        raise ValueError(f"{name} must be 0 or more, not {count}")
    return count


def _optional_float(text: str | None, name: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number (unix seconds), not {text!r}") from None


def _timeline_filters(params: Mapping[str, str]) -> dict[str, Any]:
    filters: dict[str, Any] = {
        name: params.get(name) or None for name in ("kind", "module", "verb", "request_id")
    }
    filters["since"] = _optional_float(params.get("since"), "since")
    filters["until"] = _optional_float(params.get("until"), "until")
    if params.get("with_errors") not in (None, "", "0", "1"):
        raise ValueError("with_errors must be 1 or 0")
    if params.get("with_errors") == "1":
        filters["with_errors"] = True
    return filters


def event_stream(timeline: Timeline, filters: dict[str, Any], backlog: int) -> AsyncIterator[bytes]:
    """Server-sent events: one JSON event per message."""
    return timeline_events(timeline, filters, backlog, lambda e: msgspec.json.encode(event_to_json(e)))


# ---------------------------------------------------------------------------------------------
# Only the developer's own tools: no other site's page, no other host name

WILDCARD_ADDRESSES: Final = frozenset({"0.0.0.0", "::"})


def host_name(host_header: str) -> str:
    """The name in a Host header: `127.0.0.1:8892` → `127.0.0.1`, `[::1]:8892` (or `::1`) → `::1`."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def is_loopback(name: str) -> bool:
    """`localhost`, `*.localhost` (never resolved outside this machine) or a loopback address."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return _is_address(name) and ipaddress.ip_address(name).is_loopback


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class AdminHosts:
    """The names a request may address the admin server by: loopback ones and the bound hosts."""

    bound: frozenset[str]
    admin_url: str  # where to point someone who used another name

    @classmethod
    def of(cls, admin_url: str, bound_hosts: Iterable[str] = ()) -> AdminHosts:
        names = {host_name(name) for name in (urlsplit(admin_url).hostname or "", *bound_hosts) if name}
        return cls(frozenset(names), admin_url)

    def allows(self, name: str) -> bool:
        if is_loopback(name) or name in self.bound:
            return True
        # Listening on every interface, any address of this machine is fine: DNS rebinding needs a name.
        return bool(self.bound & WILDCARD_ADDRESSES) and _is_address(name)


def foreign_request_refusal(headers: Headers, hosts: AdminHosts) -> Response | None:
    """Why a request that a web page (not the developer) may have made is refused, or None."""
    host = headers.get("host")
    # Browsers always send Host; a client that sends none is no web page.
    if host is not None and not hosts.allows(host_name(host)):
        message = (
            f"Host {host!r} is not this admin server: use {hosts.admin_url} or a localhost address "
            "(other names are refused, so that no web page can reach the admin API by DNS rebinding)"
        )
        return error_response(403, "forbidden", message)
    origin = headers.get("origin")
    if origin is not None and (host is None or origin.strip().lower() != f"http://{host.strip().lower()}"):
        message = (
            f"a page from {origin} may not use the admin API: only the console's own pages may "
            "(tools such as ftl call send no Origin)"
        )
        return error_response(403, "forbidden", message)
    return None


class OwnToolsOnly:
    """ASGI middleware that answers `foreign_request_refusal` instead of letting the app run."""

    def __init__(self, app: ASGIApp, hosts: AdminHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = foreign_request_refusal(Headers(scope=scope), self.hosts)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
