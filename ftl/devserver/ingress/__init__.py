"""HTTP ingress: routes projected from `+ingress` metadata, request binding, response rendering.

routing.py   the route table (literal segments win over parameters; 404 / 405)
binding.py   HTTP request → `builtin.HttpRequest` JSON; `builtin.HttpResponse` JSON → HTTP
shapes.py    schema types resolved to the shapes binding cares about
app.py       the ASGI app (body limit, 503 / 500 mapping, the cross-realm path, timeline)
"""

from ftl.devserver.ingress.app import DEFAULT_MAX_BODY_BYTES, REALM_PREFIX, IngressApp, IngressBackend
from ftl.devserver.ingress.binding import BindError, HttpReply, RenderError, RequestBinder, ResponseRenderer
from ftl.devserver.ingress.routing import Match, MethodNotAllowed, Route, RouteTable, build_route_table

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "REALM_PREFIX",
    "BindError",
    "HttpReply",
    "IngressApp",
    "IngressBackend",
    "Match",
    "MethodNotAllowed",
    "RenderError",
    "RequestBinder",
    "ResponseRenderer",
    "Route",
    "RouteTable",
    "build_route_table",
]
