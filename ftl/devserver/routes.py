"""The route table (a projection of the schema state) and the router that uses it.

The table says where each live module listens and what each verb may call. The backplane keeps
one for its own calls (ingress, `ftl call`) and pushes a per-module slice into every runner, so
runners call each other directly. The router is the backplane's hot path: one dict lookup, one
frame on a pooled connection, and a counter of calls in flight per deployment so a replaced
deployment is stopped only once nothing is waiting on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ftl.devserver.schema_service import SchemaState
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.names import snake_case
from ftl.runtime._call_errors import decode_failure
from ftl.runtime.context import CALLER_HEADER, new_request_id
from ftl.runtime.protocol import ClientPool, ConnectionLost, ErrorKind, ReplyLost, Routes, error_kind
from ftl.schema import ast

MAX_STOP_REASONS = 100


@dataclass(frozen=True, slots=True)
class CallError:
    """Why a call failed. A verb that raised also says how; that is for developers, not ingress clients."""

    kind: ErrorKind  # not_found | not_live | crashed | bad_request | verb_error | internal | denied | loop
    message: str
    exception: str = ""  # the type of what the verb raised, e.g. ValueError
    where: str = ""  # `path:line` of the innermost user-code frame it passed through
    traceback: str = ""  # the traceback without FTL's own frames


@dataclass(frozen=True, slots=True)
class CallResult:
    """The FTL-JSON response body, or the error; `request_id` links it to the timeline."""

    body: bytes | None
    error: CallError | None
    request_id: str


@dataclass(frozen=True, slots=True)
class VerbRoute:
    module: str
    verb: str  # the schema name
    deployment: str
    endpoint: str  # "" while the deployment's runner is down


@dataclass(frozen=True, slots=True)
class RouteTable:
    version: int = 0
    # (module, verb) in both spellings (`getUser`, `get_user`) -> route.
    verbs: Mapping[tuple[str, str], VerbRoute] = field(default_factory=lambda: MappingProxyType({}))
    endpoints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # module -> endpoint
    deployments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # module -> key


def project_routes(state: SchemaState, version: int) -> RouteTable:
    """Every verb of every live module, with where its deployment listens now."""
    verbs: dict[tuple[str, str], VerbRoute] = {}
    endpoints: dict[str, str] = {}
    deployments: dict[str, str] = {}
    realm = state.schema.realm(state.realm)
    for module in realm.modules if realm else ():
        deployment = state.live_deployment(module.name)
        if deployment is None:
            continue
        deployments[module.name] = deployment.key
        if deployment.endpoint:
            endpoints[module.name] = deployment.endpoint
        for verb in module.verbs():
            route = VerbRoute(module.name, verb.name, deployment.key, deployment.endpoint)
            verbs[(module.name, verb.name)] = route
            verbs.setdefault((module.name, snake_case(verb.name)), route)
    return RouteTable(
        version, MappingProxyType(verbs), MappingProxyType(endpoints), MappingProxyType(deployments)
    )


def allowed_calls(module: ast.Module, realm: str) -> dict[str, list[str]]:
    """Verb name -> the `module.verb` (or `module.verb@realm`) targets its `+calls` lists."""
    calls: dict[str, list[str]] = {}
    for verb in module.verbs():
        targets = []
        for metadata in verb.metadata:
            if isinstance(metadata, ast.MetadataCalls):
                for ref in metadata.calls:
                    target = f"{ref.module or module.name}.{ref.name}"
                    targets.append(f"{target}@{ref.realm}" if ref.realm and ref.realm != realm else target)
        calls[verb.name] = targets
    return calls


def runner_routes(table: RouteTable, module: ast.Module, realm: str) -> Routes:
    """The slice of the table one runner needs: every endpoint, and its own verbs' `+calls`."""
    return Routes(table.version, dict(table.endpoints), allowed_calls(module, realm))


class Router:
    """Calls a live verb from the backplane (ingress, `ftl call`) over pooled runner connections."""

    def __init__(self, timeline: Timeline) -> None:
        self.table = RouteTable()
        self._timeline = timeline
        self._pool = ClientPool()
        self._in_flight: dict[str, int] = {}
        self._idle = asyncio.Event()
        self._stop_reasons: dict[str, str] = {}  # deployments stopped on purpose (bounded), and why

    def update(self, table: RouteTable) -> None:
        """Switch to a new table; calls already under way finish where they started."""
        self.table = table

    async def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        *,
        request_id: str | None = None,
        caller: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallResult:
        request_id = request_id or new_request_id()
        route = self.table.verbs.get((module, verb))
        if route is None:
            return self._failed(module, verb, request_id, "not_found", self._unknown(module, verb))
        if not route.endpoint:
            return self._failed(
                module, verb, request_id, "not_live", f"module {module} is not live right now"
            )
        if caller:
            headers = {**headers, CALLER_HEADER: caller} if headers else {CALLER_HEADER: caller}
        deployment = route.deployment
        # Counted before the first await, so a drain that starts now waits for this call.
        self._in_flight[deployment] = self._in_flight.get(deployment, 0) + 1
        try:
            client = self._pool.ready(route.endpoint) or await self._pool.get(route.endpoint)
            reply = await client.call(route.module, route.verb, body, request_id, (), headers)
        except ReplyLost:
            why = self._stop_reasons.get(deployment, "its runner died")
            return self._failed(
                module, verb, request_id, "crashed", f"module {module} stopped during the call ({why})"
            )
        except (ConnectionLost, OSError):
            return self._failed(
                module, verb, request_id, "not_live", f"module {module} went away during the call"
            )
        finally:
            left = self._in_flight[deployment] - 1
            if left:
                self._in_flight[deployment] = left
            else:
                del self._in_flight[deployment]
                self._idle.set()
        if reply.error_kind:
            failure = decode_failure(reply.body)
            error = CallError(
                error_kind(reply.error_kind),
                reply.error_message,
                failure.exception,
                failure.where,
                failure.traceback,
            )
            return CallResult(None, error, request_id)
        return CallResult(reply.body, None, request_id)

    def in_flight(self, deployment: str) -> int:
        return self._in_flight.get(deployment, 0)

    async def wait_idle(self, deployments: Iterable[str]) -> None:
        """Return once none of `deployments` has a call from the backplane in flight."""
        keys = tuple(deployments)
        while any(key in self._in_flight for key in keys):
            self._idle.clear()
            await self._idle.wait()

    def stopping(self, deployment: str, why: str) -> None:
        """`deployment` is being stopped on purpose: calls it cuts off say `why`."""
        self._stop_reasons[deployment] = why
        while len(self._stop_reasons) > MAX_STOP_REASONS:
            del self._stop_reasons[next(iter(self._stop_reasons))]

    def forget(self, endpoints_in_use: Iterable[str]) -> None:
        """Close pooled connections to every endpoint not listed."""
        self._pool.retain(set(endpoints_in_use))

    def close(self) -> None:
        self._pool.close()

    def _unknown(self, module: str, verb: str) -> str:
        if module not in self.table.deployments:
            return f"unknown module {module}"
        return f"module {module} has no verb {verb}"

    def _failed(self, module: str, verb: str, request_id: str, kind: ErrorKind, message: str) -> CallResult:
        self._timeline.add(
            TimelineEvent(
                kind="call",
                time=time.time(),
                module=module,
                verb=verb,
                request_id=request_id,
                level="error",
                message=message,
                data={"error_kind": kind},
            )
        )
        return CallResult(None, CallError(kind, message), request_id)
