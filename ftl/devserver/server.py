"""Run the backplane with its two HTTP faces, ingress and admin, on uvicorn in one asyncio loop.

    server = DevServer(project, realm="shop", options=ServeOptions())
    urls = await server.start()       # sockets bound (port 0 = any free port), backplane up
    await server.wait_stopped()       # until stop() is called, e.g. by a signal handler
    await server.stop()               # stops both HTTP servers, then every runner

Sockets are bound before uvicorn starts so that port 0 resolves to a known URL at once. The
uvicorn servers never install signal handlers of their own: `serve_until_signalled` owns SIGINT and
SIGTERM, so Ctrl-C always runs the full shutdown and leaves no runner behind.

`EndpointAdvert` writes the admin URL to the project's `.ftl/endpoint` while `ftl dev` or `ftl serve`
runs, so that `ftl call`, `ps` and `logs` find the server whatever port it bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import uvicorn
from starlette.routing import BaseRoute

from ftl.client import ENDPOINT_FILE, endpoint_file_text
from ftl.devserver.admin import ServerUrls, create_admin_app
from ftl.devserver.backplane import Backplane
from ftl.devserver.ingress import DEFAULT_MAX_BODY_BYTES, IngressApp
from ftl.devserver.timeline import Timeline
from ftl.errors import FtlError
from ftl.files import write_atomic
from ftl.project import Project

DEFAULT_INGRESS_BIND: Final = "http://127.0.0.1:8891"
DEFAULT_ADMIN_BIND: Final = "http://127.0.0.1:8892"
INGRESS_BIND_ENV: Final = "FTL_INGRESS_BIND"
ADMIN_BIND_ENV: Final = "FTL_BIND"
GRACEFUL_SHUTDOWN_S: Final = 2


@dataclass(frozen=True, slots=True)
class ServeOptions:
    ingress_bind: str = DEFAULT_INGRESS_BIND
    admin_bind: str = DEFAULT_ADMIN_BIND
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_flags(
        cls,
        ingress_bind: str | None = None,
        admin_bind: str | None = None,
        *,
        environ: dict[str, str] | os._Environ[str] = os.environ,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> ServeOptions:
        """Flags win over the environment (FTL_INGRESS_BIND, FTL_BIND), which wins over the defaults.

        A bad address is an FtlError here, before anything starts."""
        options = cls(
            ingress_bind or environ.get(INGRESS_BIND_ENV) or DEFAULT_INGRESS_BIND,
            admin_bind or environ.get(ADMIN_BIND_ENV) or DEFAULT_ADMIN_BIND,
            max_body_bytes,
        )
        parse_bind(options.ingress_bind)
        parse_bind(options.admin_bind)
        return options


def parse_bind(text: str) -> tuple[str, int]:
    """`http://127.0.0.1:8891`, `127.0.0.1:0`, `localhost:8891` or `:0` → (host, port)."""
    raw = text.strip()
    spec = raw if "://" in raw else f"http://{raw}"
    try:
        parts = urlsplit(spec)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme != "http" or port is None or parts.path not in ("", "/"):
        raise FtlError(f"bad bind address {text!r}: expected http://HOST:PORT (port 0 picks a free port)")
    return parts.hostname or "127.0.0.1", port


def bind_socket(address: str) -> socket.socket:
    """A listening TCP socket for `address`; a taken port is a clear error."""
    host, port = parse_bind(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose listener
    # says it is TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as problem:
        sock.close()
        raise FtlError(f"cannot listen on {host}:{port}: {problem.strerror or problem}") from None
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _ShutdownNoise(logging.Filter):
    """Drops uvicorn's error line about requests still running at shutdown: open event streams
    always are, and cut-short calls are answered 503 and recorded by the ingress."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Cancel %s running task(s)")


_SHUTDOWN_NOISE = _ShutdownNoise()


def _uvicorn(app: Any) -> _QuietServer:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        # Open event streams (`ftl logs -f`) never end by themselves: cut them off on shutdown.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    logging.getLogger("uvicorn.error").addFilter(_SHUTDOWN_NOISE)  # after Config set logging up
    return _QuietServer(config)


class DevServer:
    """The backplane plus ingress and admin servers; `ftl serve` and `ftl dev` both run one."""

    def __init__(
        self,
        project: Project | None,
        *,
        realm: str,
        options: ServeOptions | None = None,
        timeline: Timeline | None = None,
        admin_extra_routes: Callable[[DevServer], Sequence[BaseRoute]] | None = None,
    ) -> None:
        self.options = options or ServeOptions()
        self.timeline = timeline or Timeline()
        self.backplane = Backplane(project, realm=realm, timeline=self.timeline)
        self.ingress = IngressApp(self.backplane, self.timeline, max_body_bytes=self.options.max_body_bytes)
        self.urls = ServerUrls("", "", "")
        self._admin_extra_routes = admin_extra_routes
        self._servers: list[_QuietServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    async def start(self) -> ServerUrls:
        """Bind both ports, start the backplane, and serve; returns the URLs actually bound."""
        sockets: list[socket.socket] = []
        try:
            sockets.append(bind_socket(self.options.ingress_bind))
            sockets.append(bind_socket(self.options.admin_bind))
        except FtlError:
            for sock in sockets:
                sock.close()
            raise
        ingress_url, admin_url = (socket_url(s) for s in sockets)
        console_url = admin_url if self._admin_extra_routes is not None else ""
        self.urls = ServerUrls(ingress_url, admin_url, console_url)
        try:
            await self.backplane.start()
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.stop()
            raise
        self._unsubscribe = self.backplane.on_change(self.ingress.schema_changed)
        extra = self._admin_extra_routes(self) if self._admin_extra_routes else ()
        bound_host = parse_bind(self.options.admin_bind)[0]
        admin = create_admin_app(
            self.backplane, self.timeline, self.urls, extra_routes=extra, bound_hosts=(bound_host,)
        )
        for app, sock in ((self.ingress, sockets[0]), (admin, sockets[1])):
            server = _uvicorn(app)
            self._servers.append(server)
            self._tasks.append(asyncio.create_task(self._serve(server, sock)))
        while not all(server.started for server in self._servers):
            if any(task.done() for task in self._tasks):
                await self.stop()
                raise FtlError("the HTTP servers failed to start")
            await asyncio.sleep(0.005)
        return self.urls

    async def _serve(self, server: _QuietServer, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()

    async def stop(self) -> None:
        """Stop serving HTTP, then stop the backplane (every runner). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.timeline.end_streams()  # open event streams (`ftl logs -f`, the console) end cleanly
        for server in self._servers:
            server.should_exit = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.backplane.stop()
        self._stopped.set()

    def request_stop(self) -> None:
        """Ask `serve_until_signalled` to shut down (from a signal handler or another task)."""
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


class EndpointAdvert:
    """Tells the project's clients (`ftl call`, `ps`, `logs`) where this server's admin API is.

    `publish` writes the URL and this process's id to `<project>/.ftl/endpoint` (atomically);
    leaving the block removes the file, unless another server has written its own since. A file
    left by a server killed outright is stale, and clients ignore it.

        with EndpointAdvert(project.root) as advert:
            ...  # once listening: advert.publish(urls.admin_url)
    """

    def __init__(self, project_root: Path | None) -> None:
        self.path = project_root / ENDPOINT_FILE if project_root is not None else None
        self._text = ""

    def __enter__(self) -> EndpointAdvert:
        return self

    def __exit__(self, *exc: object) -> None:
        self.withdraw()

    def publish(self, admin_url: str) -> None:
        if self.path is None:
            return
        self._text = endpoint_file_text(admin_url, os.getpid())
        try:
            write_atomic(self.path, self._text.encode("utf-8"))
        except OSError:
            self._text = ""  # a read-only project still serves; clients then need --endpoint

    def withdraw(self) -> None:
        if self.path is None or not self._text:
            return
        with contextlib.suppress(OSError):
            if self.path.read_text(encoding="utf-8") == self._text:
                self.path.unlink()
        self._text = ""


@contextlib.contextmanager
def stop_on_signals(server: DevServer) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM ask `server` to stop (where the loop can take signals)."""
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.request_stop)
            handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def serve_until_signalled(server: DevServer, on_ready: Callable[[ServerUrls], None]) -> None:
    """Start `server`, report its URLs, serve until SIGINT/SIGTERM (or `request_stop`), then stop."""
    with stop_on_signals(server):
        try:
            await server.start()
            on_ready(server.urls)
            await server.wait_stopped()
        finally:
            await server.stop()
