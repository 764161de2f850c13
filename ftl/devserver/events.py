"""The events that change the schema service's state: the only way it ever changes.

Events are plain frozen values (no behaviour), so the log can be replayed, streamed to
subscribers, or one day kept in a replicated store. Each carries the wall-clock time it was
decided at, so folding the log never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftl.errors import Diagnostic
from ftl.schema import ast


@dataclass(frozen=True, slots=True)
class NewDeployment:
    """One module version a changeset brings: its deployment key and the schema its runner reported."""

    key: str
    module: ast.Module


@dataclass(frozen=True, slots=True)
class ChangesetCreated:
    """A changeset with its new deployments (and modules it removes) enters PREPARING.

    The merged schema it would make live is validated on creation; a changeset that breaks any
    module is recorded with its diagnostics and may then only fail. `realms` are external realms
    it pins when it commits (new versions its modules need, which the live ones do not fit).
    """

    changeset: str
    deployments: tuple[NewDeployment, ...]
    removals: tuple[str, ...] = ()
    time: float = 0.0
    realms: tuple[ast.Realm, ...] = ()
    # The modules a changeset rejected before it had deployments (a failed build) was for.
    attempted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeploymentRuntimeUpdated:
    """Where a deployment's runner listens now; "" while it is down (crashed, restarting)."""

    deployment: str
    endpoint: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ChangesetPrepared:
    changeset: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ChangesetCommitted:
    """Routes switch to the changeset's deployments; the ones they replace start draining."""

    changeset: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ChangesetDrained:
    """The replaced deployments have finished their in-flight calls and are stopped."""

    changeset: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ChangesetFinalized:
    changeset: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ChangesetFailed:
    changeset: str
    reason: str
    diagnostics: tuple[Diagnostic, ...] = ()
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ExternalRealmPinned:
    """The public schema of an external realm this realm may call (replaces an earlier pin)."""

    realm: ast.Realm
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class ExternalRealmUnpinned:
    """The project no longer pins external realm `realm`; refused while a live module still uses it."""

    realm: str
    time: float = 0.0


Event = (
    ChangesetCreated
    | DeploymentRuntimeUpdated
    | ChangesetPrepared
    | ChangesetCommitted
    | ChangesetDrained
    | ChangesetFinalized
    | ChangesetFailed
    | ExternalRealmPinned
    | ExternalRealmUnpinned
)
