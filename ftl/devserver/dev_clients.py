"""The generated clients (`ftl_modules.X` stubs) the dev loop keeps on disk, written from the
schemas the backplane holds, never from user code: a module's once it deployed, the external
realms' as pinned."""

from __future__ import annotations

from collections.abc import Iterable

from ftl.build.stubs import remove_stale_stubs, render_stub, write_module_stub, write_realm_stubs
from ftl.devserver.dev_backplane import Deployer
from ftl.project import Project


def live_client(backplane: Deployer, project: Project, name: str) -> str | None:
    """The generated client of the version of `name` that serves (None: none serves)."""
    realm = backplane.schema().realm(project.realm)
    module = realm.module(name) if realm is not None else None
    return render_stub(module) if module is not None else None


def write_module_clients(backplane: Deployer, project: Project, names: Iterable[str]) -> None:
    """Clients of freshly deployed modules, from the schemas their runners reported."""
    realm = backplane.schema().realm(project.realm)
    for name in names:
        module = realm.module(name) if realm is not None else None
        if module is not None:
            write_module_stub(project.root, module)


def write_realm_clients(backplane: Deployer, project: Project) -> None:
    for realm in backplane.external_realms():
        write_realm_stubs(project.root, realm)


def remove_stale_clients(backplane: Deployer, project: Project, modules: Iterable[str]) -> None:
    """Remove the clients of modules and realms that are no longer there."""
    realms = [r.name for r in backplane.external_realms()]
    remove_stale_stubs(project.root, modules, realms)
