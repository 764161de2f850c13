"""Only the developer's own tools may use the admin API, not any web page their browser happens to
open: a request must name this server in its Host (a loopback name or address, or the host it is
bound to: no DNS rebinding), an Origin must be the server's own (the console's pages), and POSTs must
be `Content-Type: application/json` (which a page of another site cannot send without asking first).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ftl.devserver.admin_errors import error_response

JSON_MEDIA_TYPE: Final = "application/json"
WILDCARD_ADDRESSES: Final = frozenset({"0.0.0.0", "::"})


def refuse_unless_json(request: Request, *, request_id: str | None = None) -> JSONResponse | None:
    """415 for a body not declared JSON: a page of another site can send text/plain to any
    address without the browser asking the server first, but not application/json."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        return None
    given = f"not {media_type}" if media_type else "no Content-Type was given"
    message = f"the body must be sent as Content-Type: {JSON_MEDIA_TYPE} ({given})"
    return error_response(415, "unsupported_media_type", message, request_id=request_id)


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
