"""A small typed client for the backplane's admin API (what `ftl call`, `ps`, `logs`, `deploy` and
`schema get --endpoint` use).

    with AdminClient(resolve_endpoint(None)) as admin:
        outcome = admin.call("users.get_user", {"id": 7})

`resolve_endpoint` finds the backplane: `--endpoint`, $FTL_ENDPOINT, the project's running server
(which writes its admin URL to `.ftl/endpoint`), or the default address.

Every failure is an `FtlError` with a message fit for the user: no backplane listening is
`BackplaneUnavailable` ("no backplane at URL (start one with ftl dev or ftl serve)").
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from ftl.devserver.timeline import TimelineEvent, event_from_json
from ftl.errors import Diagnostic, FtlError, Position
from ftl.project import PROJECT_FILE_NAME

if TYPE_CHECKING:
    from ftl.schema import ast

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:8892"
ENDPOINT_ENV: Final = "FTL_ENDPOINT"


ENDPOINT_FILE: Final = Path(".ftl") / "endpoint"  # in the project root, while ftl dev/serve runs there
LIVENESS_TIMEOUT_S: Final = 0.5


def resolve_endpoint(
    flag: str | None, environ: Mapping[str, str] = os.environ, *, start: Path | None = None
) -> str:
    """`--endpoint`, else $FTL_ENDPOINT, else where the project's running `ftl dev` or `ftl serve`
    listens (its `.ftl/endpoint`, the project found from `start`, default the current directory),
    else the default admin address."""
    endpoint = flag or environ.get(ENDPOINT_ENV) or advertised_endpoint(start, environ) or DEFAULT_ENDPOINT
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def endpoint_file_text(admin_url: str, pid: int) -> str:
    """What a server writes to `.ftl/endpoint`: its admin URL and the process that serves it."""
    return json.dumps({"admin_url": admin_url, "pid": pid}) + "\n"


def read_endpoint_file(path: Path) -> tuple[str, int] | None:
    """(admin URL, pid) from an endpoint file; None if there is none or it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, pid = data.get("admin_url"), data.get("pid")
    if not isinstance(url, str) or not url or type(pid) is not int:
        return None
    return url, pid


def advertised_endpoint(start: Path | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The admin URL in the project's `.ftl/endpoint`, unless it is stale (its process is gone or
    nothing answers there any more): a server killed outright leaves its file behind."""
    root = _project_root(start, environ)
    found = read_endpoint_file(root / ENDPOINT_FILE) if root is not None else None
    if found is None:
        return None
    url, pid = found
    return url if _process_exists(pid) and _answers(url) else None


def _project_root(start: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The directory of the project file, found as every command finds it (but never an error)."""
    named = environ.get("FTL_PROJECT_FILE")
    if named:
        path = Path(named)
        return path.resolve().parent if path.is_file() else None
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / PROJECT_FILE_NAME).is_file()), None)


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _answers(url: str) -> bool:
    """Whether anything accepts connections at `url`'s host and port."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
    except ValueError:
        return False
    try:
        with socket.create_connection(address, timeout=LIVENESS_TIMEOUT_S):
            return True
    except OSError:
        return False


EMPTY_REQUEST: Any = object()  # `call` without a body: the request `{}`


class BackplaneUnavailable(FtlError):
    def __init__(self, endpoint: str) -> None:
        super().__init__(f"no backplane at {endpoint} (start one with ftl dev or ftl serve)")
        self.endpoint = endpoint


class AdminError(FtlError):
    """The admin API answered with an error."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Status:
    realm: str
    ingress_url: str
    admin_url: str
    console_url: str


@dataclass(frozen=True, slots=True)
class Deployment:
    key: str
    module: str
    state: str
    endpoint: str
    started_at: float
    version: int


@dataclass(frozen=True, slots=True)
class CallFailure:
    kind: str
    message: str
    suggestions: list[str] = field(default_factory=list)
    exception: str = ""  # what the verb raised, e.g. ValueError
    where: str = ""  # `path:line` (absolute, on the backplane's machine) of the user code it came from
    traceback: str = ""  # the traceback without FTL's own frames


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A verb's response body (decoded JSON), or why there is none."""

    request_id: str
    body: Any = None
    error: CallFailure | None = None


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    changeset: str
    state: str
    deployments: list[str]
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.state.upper() != "FAILED"


class AdminClient:
    def __init__(self, endpoint: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None):
        self.endpoint = endpoint.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.endpoint, timeout=httpx.Timeout(timeout, connect=5.0), transport=transport
            )
        except (httpx.InvalidURL, ValueError) as problem:
            raise FtlError(f"bad endpoint {endpoint!r}: {problem}") from None

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the API ----------------------------------------------------------------------------------

    def status(self) -> Status:
        data = self._json("GET", "/api/status")
        return Status(data["realm"], data["ingress_url"], data["admin_url"], data["console_url"])

    def deployments(self) -> list[Deployment]:
        return [
            Deployment(d["key"], d["module"], d["state"], d["endpoint"], d["started_at"], d["version"])
            for d in self._json("GET", "/api/deployments")
        ]

    def schema_text(self, modules: Sequence[str] = (), *, public: bool = False) -> str:
        response = self._request("GET", "/api/schema", params=_schema_params(modules, "text", public))
        return response.text

    def schema_json(self, modules: Sequence[str] = (), *, public: bool = False) -> dict[str, Any]:
        params = _schema_params(modules, "json", public)
        result: dict[str, Any] = self._json("GET", "/api/schema", params=params)
        return result

    def schema(self) -> ast.Schema:
        """The backplane's schema as a tree (from its JSON form)."""
        from ftl.schema import ast, from_json  # late: only the commands that resolve names need it

        data = self.schema_json()
        schema = from_json(data)
        if not isinstance(schema, ast.Schema):
            raise FtlError(f"unexpected schema from {self.endpoint}: {str(data)[:200]}")
        return schema

    def call(self, verb: str, body: Any = EMPTY_REQUEST) -> CallOutcome:
        """Call `module.verb` (either spelling) with the decoded JSON `body` (`{}` when not given;
        None is JSON null); a verb error is an outcome, not an exception."""
        payload = {"verb": verb, "body": {} if body is EMPTY_REQUEST else body}
        response = self._send("POST", "/api/call", json=payload, timeout=None)
        data = _decode(response)
        if type(data) is not dict:
            raise FtlError(f"unexpected answer from {self.endpoint}: {response.text[:200]}")
        error = data.get("error")
        if error is None:
            return CallOutcome(data.get("request_id", ""), data.get("body"))
        failure = CallFailure(
            error.get("kind", "internal"),
            error.get("message", ""),
            error.get("suggestions", []),
            error.get("exception", ""),
            error.get("where", ""),
            error.get("traceback", ""),
        )
        return CallOutcome(data.get("request_id", ""), None, failure)

    def timeline(
        self,
        *,
        kind: str | None = None,
        module: str | None = None,
        verb: str | None = None,
        request_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
        with_errors: bool = False,
    ) -> list[TimelineEvent]:
        """Events, newest first; `with_errors`: error events of any kind too."""
        params = _filters(kind, module, verb, request_id, with_errors)
        if before_id is not None:
            params["before_id"] = str(before_id)
        params["limit"] = str(limit)
        return [event_from_json(e) for e in self._json("GET", "/api/timeline", params=params)]

    def stream_timeline(
        self,
        *,
        kind: str | None = None,
        module: str | None = None,
        verb: str | None = None,
        request_id: str | None = None,
        backlog: int = 0,
        with_errors: bool = False,
    ) -> Iterator[TimelineEvent]:
        """The last `backlog` matching events, then each new one as it happens (until closed).

        Where the stream fell behind and lost events, a `skipped_notice` stands in for them."""
        params = _filters(kind, module, verb, request_id, with_errors)
        params["backlog"] = str(backlog)
        try:
            with self._http.stream(
                "GET", "/api/timeline/stream", params=params, timeout=httpx.Timeout(None, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                for name, data in _sse_messages(response.iter_lines()):
                    if name == "resync":
                        yield skipped_notice(json.loads(data))
                    elif name == "message":
                        yield event_from_json(json.loads(data))
        except httpx.ConnectError:
            raise BackplaneUnavailable(self.endpoint) from None
        except (httpx.RemoteProtocolError, httpx.ReadError):
            return  # the backplane went away: the stream simply ends

    def deploy(self, module_dirs: Sequence[Path]) -> DeployOutcome:
        payload = {"module_dirs": [str(Path(d).resolve()) for d in module_dirs]}
        data = _decode(self._send("POST", "/api/deploy", json=payload, timeout=None))
        if type(data) is not dict:
            raise FtlError(f"unexpected answer from {self.endpoint}")
        if "error" in data:
            raise AdminError(400, data["error"].get("kind", ""), data["error"].get("message", ""))
        diagnostics = [parse_diagnostic(str(text)) for text in data["diagnostics"]]
        return DeployOutcome(data["changeset"], data["state"], data["deployments"], diagnostics)

    def realms(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/realms")
        return result

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise BackplaneUnavailable(self.endpoint) from None
        except httpx.TimeoutException:
            raise FtlError(f"the backplane at {self.endpoint} did not answer in time") from None
        except httpx.HTTPError as problem:
            raise FtlError(f"talking to the backplane at {self.endpoint} failed: {problem}") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            _raise_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _decode(self._request(method, path, **kwargs))


_PLACED = re.compile(r"(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)", re.DOTALL)


def parse_diagnostic(text: str) -> Diagnostic:
    """A diagnostic as the admin API sends it (`file:line:col: message`, or just a message)."""
    match = _PLACED.fullmatch(text)
    if match is None:
        return Diagnostic(text)
    place = Position(match["file"], int(match["line"]), int(match["column"]))
    return Diagnostic(match["message"], place)


def _sse_messages(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) of each server-sent event; comments and ids are not needed here."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            name = line[6:].strip()


def skipped_notice(resync: Mapping[str, Any]) -> TimelineEvent:
    """A warning in the stream where the backplane dropped events this reader was too slow for.

    It takes the id of the first lost event, so that it sorts (and is printed) where they were."""
    count, first_id, last_id = int(resync["skipped"]), int(resync["first_id"]), int(resync["last_id"])
    which = f"event {first_id}" if count == 1 else f"{count} events (ids {first_id} to {last_id})"
    return TimelineEvent(
        kind="log",
        time=time.time(),
        level="warn",
        message=f"{which} skipped: this stream fell behind (the timeline still has them)",
        data={"skipped": count, "first_id": first_id, "last_id": last_id},
        id=first_id,
    )


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _not_an_admin_api(response) from None


def _raise_for(response: httpx.Response) -> None:
    try:
        error = response.json().get("error", {})
        kind, message = error.get("kind", ""), error.get("message", "")
    except (ValueError, AttributeError):
        kind, message = "", ""
    if not message:
        problem = _not_an_admin_api(response)
        raise AdminError(response.status_code, kind, problem.diagnostics[0].message)
    raise AdminError(response.status_code, kind, message)


def _not_an_admin_api(response: httpx.Response) -> FtlError:
    """The answer of something that is not FTL's admin API (often the ingress address by mistake)."""
    url = response.request.url
    server = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
    answer = f"{response.status_code} to {response.request.method} {url.path}"
    if response.status_code >= 500:
        return FtlError(f"the backplane at {server} failed (it answered {answer})")
    return FtlError(
        f"{server} is not an FTL admin API (it answered {answer}); "
        "use the admin address that ftl dev or ftl serve prints"
    )


def _filters(
    kind: str | None, module: str | None, verb: str | None, request_id: str | None, with_errors: bool
) -> dict[str, str]:
    given = {"kind": kind, "module": module, "verb": verb, "request_id": request_id}
    params = {name: value for name, value in given.items() if value}
    if with_errors:
        params["with_errors"] = "1"
    return params


def _schema_params(modules: Sequence[str], form: str, public: bool) -> list[tuple[str, str]]:
    params = [("module", m) for m in modules] + [("format", form)]
    if public:
        params.append(("public", "1"))
    return params
