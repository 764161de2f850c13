"""Changesets: the unit that moves a set of module versions into service atomically.

A changeset goes PREPARING → PREPARED → COMMITTED → DRAINED → FINALIZED, or from PREPARING or
PREPARED to FAILED (nothing it brought ever served, so failing it is a clean roll-back). This
module holds the lifecycle rules and the key formats; `schema_service` enforces them and
`deployer` drives them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class ChangesetState(StrEnum):
    PREPARING = "PREPARING"  # runners started, schema validated; waiting for every runner's endpoint
    PREPARED = "PREPARED"  # every new deployment is up and reachable
    COMMITTED = "COMMITTED"  # routes switched to the new deployments; old ones finish in-flight calls
    DRAINED = "DRAINED"  # old deployments have no call in flight and are stopped
    FINALIZED = "FINALIZED"  # done; kept for history
    FAILED = "FAILED"  # rejected or rolled back; the previous deployments keep serving


NEXT_STATES: dict[ChangesetState, frozenset[ChangesetState]] = {
    ChangesetState.PREPARING: frozenset({ChangesetState.PREPARED, ChangesetState.FAILED}),
    ChangesetState.PREPARED: frozenset({ChangesetState.COMMITTED, ChangesetState.FAILED}),
    ChangesetState.COMMITTED: frozenset({ChangesetState.DRAINED}),
    ChangesetState.DRAINED: frozenset({ChangesetState.FINALIZED}),
    ChangesetState.FINALIZED: frozenset(),
    ChangesetState.FAILED: frozenset(),
}

# States in which a changeset still owns its modules: a second changeset may not touch them.
IN_FLIGHT = frozenset({ChangesetState.PREPARING, ChangesetState.PREPARED})


def can_move(current: ChangesetState, target: ChangesetState) -> bool:
    return target in NEXT_STATES[current]


class DeploymentState(StrEnum):
    STARTING = "starting"  # its changeset is being prepared
    LIVE = "live"  # serving (routes point at it)
    DRAINING = "draining"  # replaced; finishing in-flight calls
    STOPPED = "stopped"  # drained and stopped
    FAILED = "failed"  # its changeset failed before it ever served


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_DEPLOYMENT_KEY = re.compile(r"dpl-([a-z][a-z0-9_]*)-([a-z][a-zA-Z0-9_]*)-([0-9a-z]{10,})")
_CHANGESET_KEY = re.compile(r"chs-[0-9a-z]{10,}")


def _random_suffix(length: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_changeset_key() -> str:
    return f"chs-{_random_suffix()}"


def new_deployment_key(realm: str, module: str) -> str:
    """`dpl-<realm>-<module>-<random>`: realm and module names never contain `-`."""
    return f"dpl-{realm}-{module}-{_random_suffix()}"


@dataclass(frozen=True, slots=True)
class DeploymentKey:
    realm: str
    module: str
    suffix: str

    def __str__(self) -> str:
        return f"dpl-{self.realm}-{self.module}-{self.suffix}"


def parse_deployment_key(text: str) -> DeploymentKey | None:
    match = _DEPLOYMENT_KEY.fullmatch(text)
    return DeploymentKey(match[1], match[2], match[3]) if match else None


def is_changeset_key(text: str) -> bool:
    return _CHANGESET_KEY.fullmatch(text) is not None
