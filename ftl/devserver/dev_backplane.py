"""What the dev loop needs from the backplane: the `Deployer` protocol and the deployment states
it reads (`ftl.devserver.backplane.Backplane` is the real one; tests pass doubles)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ftl.errors import Diagnostic
from ftl.project import Project
from ftl.schema import ast

FAILED_STATE = "FAILED"
SERVING_STATES = frozenset({"live", "down"})  # "down": crashed, being restarted, still routed to


class DeployOutcome(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def diagnostics(self) -> Sequence[Diagnostic]: ...


class LiveDeployment(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def module(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def started_at(self) -> float: ...

    @property
    def version(self) -> int: ...


class Deployer(Protocol):
    """The slice of `ftl.devserver.backplane.Backplane` the dev loop uses.

    `deploy` runs one changeset at a time; cancelled while its runners import, it stops them and
    nothing of the changeset remains. Its deployments show in `deployments()` from the moment the
    runners reported their schemas (state "starting") on.
    """

    async def deploy(
        self, module_dirs: Sequence[Path], *, removals: Sequence[str] = (), build: bool = True
    ) -> DeployOutcome: ...

    async def set_project(self, project: Project) -> Sequence[Diagnostic]: ...

    def realm_problems(self) -> Sequence[Diagnostic]: ...

    def deployments(self) -> Sequence[LiveDeployment]: ...

    def schema(self) -> ast.Schema: ...

    def external_realms(self) -> Sequence[ast.Realm]: ...


def serving_modules(backplane: Deployer) -> set[str]:
    """The modules a version of which serves (or is being restarted, still routed to)."""
    return {d.module for d in backplane.deployments() if d.state in SERVING_STATES}
