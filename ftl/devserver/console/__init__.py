"""The web console: server-rendered pages on the admin port showing the running system live.

    admin = create_admin_app(backplane, timeline, urls, extra_routes=console_routes(backplane, timeline))
    DevServer(project, realm=..., admin_extra_routes=server_console_routes)   # the same, for a DevServer

- `app`: the routes and handlers (`/`, `/modules/{name}`, `/verbs/{module}/{verb}`, `/timeline`,
  `/timeline/live`, `/trace/{request_id}`, `/graph`, `/realms`, `/static/...`)
- `views`: what each page lists, computed from the schema, deployments and timeline (pure data)
- `trace`: one request's events nested by caller; `graph`: module dependencies as layered SVG
- `highlight`: schema text to HTML; `samples`: example JSON for a verb's request type
- `templates/`, `static/`: Jinja2 templates, the stylesheet and the little JavaScript, all shipped
  in the wheel. Pages only read; calling a verb goes through the admin API's `POST /api/call`.
"""

from __future__ import annotations

from ftl.devserver.console.app import Console, ConsoleBackend, console_routes, server_console_routes

__all__ = ["Console", "ConsoleBackend", "console_routes", "server_console_routes"]
