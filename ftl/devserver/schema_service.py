"""The schema service: the single source of truth, as a state machine fed only by events.

`transition(state, event)` is a pure function: it checks the event against the state and returns
the next state, or raises `InvalidEvent` (and, since states are immutable, nothing changed). The
service keeps the current state, the log it was folded from, and tells subscribers about every
event. No I/O happens here: runners, sockets and clocks live in the deployer and supervisor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TypeVar

from ftl.devserver.changeset import (
    IN_FLIGHT,
    ChangesetState,
    DeploymentState,
    can_move,
    is_changeset_key,
    parse_deployment_key,
)
from ftl.devserver.events import (
    ChangesetCommitted,
    ChangesetCreated,
    ChangesetDrained,
    ChangesetFailed,
    ChangesetFinalized,
    ChangesetPrepared,
    DeploymentRuntimeUpdated,
    Event,
    ExternalRealmPinned,
    ExternalRealmUnpinned,
)
from ftl.errors import Diagnostic, FtlError
from ftl.schema import ast, validate_schema

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# Finished changesets kept for history (`ftl ps`, the console); older ones are forgotten.
KEEP_FINISHED_CHANGESETS = 100


class InvalidEvent(Exception):
    """An event that does not fit the current state. Applying it changed nothing.

    `diagnostics` are set when the event is well-formed but the schema it would make live does
    not validate.
    """

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = ()) -> None:
        self.diagnostics = tuple(diagnostics)
        details = "".join(f"\n  {d}" for d in self.diagnostics)
        super().__init__(message + details)


@dataclass(frozen=True, slots=True)
class Deployment:
    key: str
    module: str
    schema: ast.Module  # as its runner reported it (positions point at user code)
    changeset: str
    state: DeploymentState
    endpoint: str  # "host:port" of the runner, "" while it has none
    created_at: float
    version: int  # per module: 1 for its first deployment, then counting up


@dataclass(frozen=True, slots=True)
class Changeset:
    key: str
    state: ChangesetState
    modules: tuple[str, ...]
    deployments: tuple[str, ...]
    removals: tuple[str, ...]
    created_at: float
    updated_at: float
    replaced: tuple[str, ...] = ()  # deployments it took out of service when committed
    realms: tuple[ast.Realm, ...] = ()  # external realms it pins when committed
    diagnostics: tuple[Diagnostic, ...] = ()
    reason: str = ""
    attempted: tuple[str, ...] = ()  # what a changeset rejected before it had deployments was for
    # The merged schema it would make live, validated against live generation `base`.
    candidate: ast.Schema | None = None
    base: int = 0

    @property
    def finished(self) -> bool:
        return self.state in (ChangesetState.FINALIZED, ChangesetState.FAILED)


@dataclass(frozen=True, slots=True)
class SchemaState:
    realm: str
    schema: ast.Schema  # canonical: live modules plus pinned realms, validated and normalised
    live: Mapping[str, str]  # module name -> live deployment key
    deployments: Mapping[str, Deployment]  # every deployment that is not stopped or failed
    changesets: Mapping[str, Changeset]  # in creation order
    external_realms: Mapping[str, ast.Realm]
    versions: Mapping[str, int]  # module name -> version of its newest deployment
    generation: int = 0  # bumps whenever the live schema changes
    sequence: int = 0  # events folded into this state

    def live_deployment(self, module: str) -> Deployment | None:
        key = self.live.get(module)
        return self.deployments.get(key) if key else None

    def live_module(self, module: str) -> ast.Module | None:
        realm = self.schema.realm(self.realm)
        return realm.module(module) if realm else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The first thing a subscriber receives: the whole state."""

    state: SchemaState


SchemaEvent = Snapshot | Event


def initial_state(realm: str) -> SchemaState:
    schema, diagnostics = validate_schema(merged_schema(realm, {}, {}))
    if diagnostics:
        raise FtlError(diagnostics)
    return SchemaState(
        realm=realm,
        schema=schema,
        live=_frozen({}),
        deployments=_frozen({}),
        changesets=_frozen({}),
        external_realms=_frozen({}),
        versions=_frozen({}),
    )


def merged_schema(
    realm: str, modules: Mapping[str, ast.Module], external: Mapping[str, ast.Realm]
) -> ast.Schema:
    internal = ast.Realm(name=realm, modules=tuple(modules[name] for name in sorted(modules)))
    return ast.Schema(realms=(internal, *(external[name] for name in sorted(external))))


def fold(state: SchemaState, events: Iterable[Event]) -> SchemaState:
    for event in events:
        state = transition(state, event)
    return state


def transition(state: SchemaState, event: Event) -> SchemaState:
    """The state after `event`, or InvalidEvent if the event does not fit `state`."""
    match event:
        case ChangesetCreated():
            new = _created(state, event)
        case DeploymentRuntimeUpdated():
            new = _runtime_updated(state, event)
        case ChangesetPrepared():
            new = _prepared(state, event)
        case ChangesetCommitted():
            new = _committed(state, event)
        case ChangesetDrained():
            new = _drained(state, event)
        case ChangesetFinalized():
            new = _finalized(state, event)
        case ChangesetFailed():
            new = _failed(state, event)
        case ExternalRealmPinned():
            new = _realm_pinned(state, event)
        case ExternalRealmUnpinned():
            new = _realm_unpinned(state, event)
        case _:
            raise InvalidEvent(f"unknown event {event!r}")
    return replace(new, sequence=state.sequence + 1)


def _created(state: SchemaState, event: ChangesetCreated) -> SchemaState:
    if not is_changeset_key(event.changeset):
        raise InvalidEvent(f"malformed changeset key {event.changeset!r}")
    if event.changeset in state.changesets:
        raise InvalidEvent(f"changeset {event.changeset} already exists")
    modules = [d.module.name for d in event.deployments]
    touched = [*modules, *event.removals]
    if len(set(touched)) != len(touched):
        raise InvalidEvent(f"changeset {event.changeset} names a module twice: {', '.join(touched)}")
    for new in event.deployments:
        key = parse_deployment_key(new.key)
        if key is None or key.realm != state.realm or key.module != new.module.name:
            raise InvalidEvent(
                f"deployment key {new.key!r} is not `dpl-{state.realm}-{new.module.name}-<random>`"
            )
        if new.key in state.deployments:
            raise InvalidEvent(f"deployment {new.key} already exists")
        if new.module.builtin or new.module.name == "builtin":
            raise InvalidEvent("the builtin module cannot be deployed")
    for name in event.removals:
        if name not in state.live:
            raise InvalidEvent(f"cannot remove module {name}: it is not deployed")
    for realm in event.realms:
        _check_external(state, realm)
    busy = {
        name: other.key
        for other in state.changesets.values()
        if other.state in IN_FLIGHT
        for name in (*other.modules, *other.removals)
    }
    for name in touched:
        if name in busy:
            raise InvalidEvent(f"module {name} is already part of changeset {busy[name]}, still in progress")

    modules_after = {name: state.deployments[key].schema for name, key in state.live.items()}
    for name in event.removals:
        del modules_after[name]
    for new in event.deployments:
        modules_after[new.module.name] = new.module
    external = _external_after(state, event.realms)
    candidate, diagnostics = validate_schema(merged_schema(state.realm, modules_after, external))

    versions = dict(state.versions)
    deployments = dict(state.deployments)
    for new in event.deployments:
        name = new.module.name
        versions[name] = versions.get(name, 0) + 1
        deployments[new.key] = Deployment(
            key=new.key,
            module=name,
            schema=new.module,
            changeset=event.changeset,
            state=DeploymentState.STARTING,
            endpoint="",
            created_at=event.time,
            version=versions[name],
        )
    changeset = Changeset(
        key=event.changeset,
        state=ChangesetState.PREPARING,
        modules=tuple(modules),
        deployments=tuple(d.key for d in event.deployments),
        removals=event.removals,
        created_at=event.time,
        updated_at=event.time,
        diagnostics=tuple(sorted(set(diagnostics))),
        candidate=None if diagnostics else candidate,
        base=state.generation,
        realms=event.realms,
        attempted=event.attempted,
    )
    return replace(
        state,
        deployments=_frozen(deployments),
        versions=_frozen(versions),
        changesets=_frozen({**state.changesets, changeset.key: changeset}),
    )


def _runtime_updated(state: SchemaState, event: DeploymentRuntimeUpdated) -> SchemaState:
    deployment = state.deployments.get(event.deployment)
    if deployment is None:
        raise InvalidEvent(f"unknown deployment {event.deployment}")
    if event.endpoint and not _is_endpoint(event.endpoint):
        raise InvalidEvent(f"malformed endpoint {event.endpoint!r}: expected host:port")
    updated = replace(deployment, endpoint=event.endpoint)
    return replace(state, deployments=_frozen({**state.deployments, deployment.key: updated}))


def _prepared(state: SchemaState, event: ChangesetPrepared) -> SchemaState:
    changeset = _moving(state, event.changeset, ChangesetState.PREPARED)
    if changeset.diagnostics:
        raise InvalidEvent(f"changeset {changeset.key} does not validate", changeset.diagnostics)
    waiting = [key for key in changeset.deployments if not state.deployments[key].endpoint]
    if waiting:
        raise InvalidEvent(
            f"changeset {changeset.key} has deployments without an endpoint: {', '.join(waiting)}"
        )
    return _with_changeset(state, replace(changeset, state=ChangesetState.PREPARED, updated_at=event.time))


def _committed(state: SchemaState, event: ChangesetCommitted) -> SchemaState:
    changeset = _moving(state, event.changeset, ChangesetState.COMMITTED)
    live = dict(state.live)
    for name in changeset.removals:
        del live[name]
    for key in changeset.deployments:
        live[state.deployments[key].module] = key
    external = _external_after(state, changeset.realms)
    schema = changeset.candidate
    if schema is None or changeset.base != state.generation:
        # Another changeset went live since this one was validated: check it against what is live now.
        modules = {name: state.deployments[key].schema for name, key in live.items()}
        schema, diagnostics = validate_schema(merged_schema(state.realm, modules, external))
        if diagnostics:
            raise InvalidEvent(f"changeset {changeset.key} no longer fits the live schema", diagnostics)
    replaced = tuple(
        state.live[name] for name in (*changeset.modules, *changeset.removals) if name in state.live
    )
    deployments = dict(state.deployments)
    for key in replaced:
        deployments[key] = replace(deployments[key], state=DeploymentState.DRAINING)
    for key in changeset.deployments:
        deployments[key] = replace(deployments[key], state=DeploymentState.LIVE)
    committed = replace(
        changeset,
        state=ChangesetState.COMMITTED,
        updated_at=event.time,
        replaced=replaced,
        candidate=None,
    )
    return replace(
        _with_changeset(state, committed),
        schema=schema,
        live=_frozen(live),
        deployments=_frozen(deployments),
        external_realms=_frozen(external),
        generation=state.generation + 1,
    )


def _drained(state: SchemaState, event: ChangesetDrained) -> SchemaState:
    changeset = _moving(state, event.changeset, ChangesetState.DRAINED)
    deployments = {k: d for k, d in state.deployments.items() if k not in changeset.replaced}
    drained = replace(changeset, state=ChangesetState.DRAINED, updated_at=event.time)
    return replace(_with_changeset(state, drained), deployments=_frozen(deployments))


def _finalized(state: SchemaState, event: ChangesetFinalized) -> SchemaState:
    changeset = _moving(state, event.changeset, ChangesetState.FINALIZED)
    return _with_changeset(state, replace(changeset, state=ChangesetState.FINALIZED, updated_at=event.time))


def _failed(state: SchemaState, event: ChangesetFailed) -> SchemaState:
    changeset = _moving(state, event.changeset, ChangesetState.FAILED)
    if not event.reason:
        raise InvalidEvent("a failed changeset needs a reason")
    # Its deployments never served; they are forgotten as their runners are stopped.
    deployments = {k: d for k, d in state.deployments.items() if k not in changeset.deployments}
    failed = replace(
        changeset,
        state=ChangesetState.FAILED,
        updated_at=event.time,
        reason=event.reason,
        diagnostics=tuple(sorted(set(event.diagnostics))) or changeset.diagnostics,
        candidate=None,
    )
    return replace(_with_changeset(state, failed), deployments=_frozen(deployments))


def _realm_pinned(state: SchemaState, event: ExternalRealmPinned) -> SchemaState:
    realm = event.realm
    _check_external(state, realm)
    external = _external_after(state, (realm,))
    modules = {name: state.deployments[key].schema for name, key in state.live.items()}
    schema, diagnostics = validate_schema(merged_schema(state.realm, modules, external))
    if diagnostics:
        raise InvalidEvent(f"pinning realm {realm.name} breaks the live schema", diagnostics)
    return replace(state, external_realms=_frozen(external), schema=schema, generation=state.generation + 1)


def _realm_unpinned(state: SchemaState, event: ExternalRealmUnpinned) -> SchemaState:
    if event.realm not in state.external_realms:
        raise InvalidEvent(f"realm {event.realm} is not pinned")
    external = {name: realm for name, realm in state.external_realms.items() if name != event.realm}
    modules = {name: state.deployments[key].schema for name, key in state.live.items()}
    schema, diagnostics = validate_schema(merged_schema(state.realm, modules, external))
    if diagnostics:
        raise InvalidEvent(f"unpinning realm {event.realm} breaks the live schema", diagnostics)
    return replace(state, external_realms=_frozen(external), schema=schema, generation=state.generation + 1)


def _check_external(state: SchemaState, realm: ast.Realm) -> None:
    if not realm.external:
        raise InvalidEvent(f"realm {realm.name} is not marked external")
    if realm.name == state.realm:
        raise InvalidEvent(f"an external realm cannot be named {realm.name}, like this realm")


def _external_after(state: SchemaState, pinned: Iterable[ast.Realm]) -> dict[str, ast.Realm]:
    return {**state.external_realms, **{realm.name: realm for realm in pinned}}


def _moving(state: SchemaState, key: str, target: ChangesetState) -> Changeset:
    changeset = state.changesets.get(key)
    if changeset is None:
        raise InvalidEvent(f"unknown changeset {key}")
    if not can_move(changeset.state, target):
        raise InvalidEvent(f"changeset {key} cannot go from {changeset.state} to {target}")
    return changeset


def _with_changeset(state: SchemaState, changeset: Changeset) -> SchemaState:
    changesets = {**state.changesets, changeset.key: changeset}
    if changeset.finished:
        finished = [key for key, c in changesets.items() if c.finished]
        for key in finished[: max(0, len(finished) - KEEP_FINISHED_CHANGESETS)]:
            del changesets[key]
    return replace(state, changesets=_frozen(changesets))


def _is_endpoint(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def _frozen(values: dict[K, V]) -> Mapping[K, V]:
    return MappingProxyType(values)


class SchemaService:
    """Holds the current state; `apply` is the only way to change it."""

    def __init__(self, realm: str, *, max_log: int = 10_000) -> None:
        self._state = initial_state(realm)
        # Invariant: fold(self._base, self._log) == self._state. Old events are folded into the base.
        self._base = self._state
        self._log: list[Event] = []
        self._max_log = max_log
        self._queues: list[asyncio.Queue[SchemaEvent]] = []
        self._callbacks: list[Callable[[Event, SchemaState], None]] = []

    @property
    def state(self) -> SchemaState:
        return self._state

    @property
    def realm(self) -> str:
        return self._state.realm

    def log(self) -> tuple[SchemaState, tuple[Event, ...]]:
        """The base state and the events after it that fold into the current state."""
        return self._base, tuple(self._log)

    def apply(self, event: Event) -> SchemaState:
        """Validate and apply one event; raises InvalidEvent (changing nothing) if it does not fit."""
        self._state = transition(self._state, event)
        self._log.append(event)
        if len(self._log) > self._max_log:
            keep = self._max_log // 2
            self._base = fold(self._base, self._log[:-keep])
            del self._log[:-keep]
        for queue in self._queues:
            queue.put_nowait(event)
        for callback in self._callbacks:
            try:
                callback(event, self._state)
            except Exception:
                log.exception("schema change callback %r failed", callback)
        return self._state

    def on_change(self, callback: Callable[[Event, SchemaState], None]) -> Callable[[], None]:
        """Call `callback(event, new_state)` after every applied event; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def subscribe(self) -> AsyncIterator[SchemaEvent]:
        """The full state first, then every event as it is applied."""
        queue: asyncio.Queue[SchemaEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            yield Snapshot(self._state)
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
