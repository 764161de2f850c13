"""Failures as `ftl dev` shows them: each error under the module whose files it points into, and
shown once per change.

A module failing while a module it imports is broken is shown as waiting for that one, not with
follow-on errors of its own. A module saved without errors of its own that a failing one kept from
going live is shown as not deployed either (and no longer as broken, if it was). Problems that
belong to no module (the project layout, the project file, realm pins, config, secrets) are kept
under keys of their own and shown when new.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ftl.build.discover import ModuleInfo
from ftl.build.graph import Graph, dependencies_of
from ftl.devserver.dev_events import DevEvent
from ftl.devserver.status import DevStatus
from ftl.errors import Diagnostic, sorted_unique

PROJECT_KEY = "<project>"  # where failures that belong to no module are remembered
PROJECT_FILE_KEY = "<project file>"  # where failures to read ftl-project.toml are remembered
REALMS_KEY = "<realms>"  # where failures to pin the project's external realms are remembered
CONFIG_KEY = "<config>"  # where failures to read the project's config values are remembered
SECRETS_KEY = "<secrets>"  # where failures to read the secrets file are remembered


class Failures:
    """What was shown failing, per module or key, and which modules are broken (failed with errors
    of their own) or held (saved without errors, kept out by a failing module they went with)."""

    def __init__(self, status: DevStatus, report: Callable[[DevEvent], None]) -> None:
        self._status = status
        self._report = report
        self._shown: dict[str, frozenset[Diagnostic]] = {}  # last failure shown, per module or key
        self._broken: set[str] = set()
        self._held: set[str] = set()

    def showing(self, key: str) -> bool:
        """Whether a failure shown under `key` still stands."""
        return key in self._shown

    def forget(self, key: str) -> bool:
        """Drop the failure shown under `key`; whether there was one."""
        return self._shown.pop(key, None) is not None

    def show_problems(self, key: str, diagnostics: Sequence[Diagnostic], *, force: bool = False) -> None:
        """Project-level problems (a bad ftl.toml, ftl-project.toml): shown when new."""
        if not diagnostics:
            self._shown.pop(key, None)
            return
        shown = relative_to_cwd(list(diagnostics))
        if force or self._shown.get(key) != frozenset(shown):
            self._report(DevEvent("failed", (), tuple(shown)))
        self._shown[key] = frozenset(shown)

    def deployed(self, names: Iterable[str]) -> None:
        for name in names:
            self._broken.discard(name)
            self._held.discard(name)
            self._shown.pop(name, None)

    def deleted(self, names: set[str]) -> None:
        """Modules deleted from disk are neither broken nor held any more (they may still serve)."""
        self._broken -= names
        self._held -= names

    def removed(self, name: str) -> None:
        """A deleted module no longer serves: nothing about it is remembered."""
        self._shown.pop(name, None)
        self._broken.discard(name)

    def failed(
        self,
        names: set[str],
        blame: dict[str, list[Diagnostic]],
        changed: set[str],
        graph: Graph,
        deleted: set[str],
    ) -> None:
        """Mark `names` as not deployed; show each module's errors once per change."""
        to_show: list[Diagnostic] = []
        shown_for: list[str] = []
        waiting: list[tuple[str, str]] = []
        culprits = sorted(name for name in names if blame.get(name))
        # Saved and tried without errors of their own: whatever broke them before is fixed.
        held = sorted(name for name in names if not blame.get(name) and name in changed | self._held)
        self._broken -= set(held)
        self._held = (self._held - names) | set(held if culprits else ())
        broken = set(culprits) | self._broken
        for name in sorted(names):
            diagnostics = blame.get(name)
            if not diagnostics:
                if name in held and culprits:
                    self._status.failed(name, f"not deployed: {', '.join(culprits)} failed")
                else:
                    self._status.unchanged(name)
                continue
            blocked_by = blockers(name, broken, graph)
            if blocked_by:
                # Its errors are most likely the broken module's, seen from here: shown if they
                # remain once that one is fixed.
                self._broken.discard(name)
                note = f"waiting for {', '.join(blocked_by)}"
                self._status.failed(name, note)
                key = frozenset({Diagnostic(note)})
                if name in changed or self._shown.get(name) != key:
                    waiting.append((name, ", ".join(blocked_by)))
                self._shown[name] = key
                continue
            self._broken.add(name)
            relative = relative_to_cwd([deleted_reference(d, deleted) for d in diagnostics])
            self._status.failed(name, str(relative[0]))
            key = frozenset(relative)
            if name in changed or self._shown.get(name) != key:
                to_show.extend(relative)
                shown_for.append(name)
            self._shown[name] = key
        if to_show or waiting:
            notes = [still_serving(self._status, shown_for)]
            if held and culprits:
                serving = still_serving(self._status, held)
                notes.append(f"{', '.join(held)} not deployed either" + (f": {serving}" if serving else ""))
            note = "; ".join(n for n in notes if n)
            shown = tuple(sorted_unique(to_show))
            self._report(DevEvent("failed", tuple(shown_for), shown, message=note, waiting=tuple(waiting)))


def blame(
    diagnostics: list[Diagnostic], targets: set[str], changed: set[str], modules: Iterable[ModuleInfo]
) -> dict[str, list[Diagnostic]]:
    """Each diagnostic under the module whose files it points into; the rest under the changed ones."""
    modules = list(modules)
    by_module: dict[str, list[Diagnostic]] = {}
    unplaced: list[Diagnostic] = []
    for diagnostic in diagnostics:
        owner = owner_of(diagnostic, modules)
        if owner is None:
            unplaced.append(diagnostic)
        else:
            by_module.setdefault(owner, []).append(diagnostic)
    if unplaced:
        fallback = sorted((changed & targets) or targets)
        for name in fallback:
            by_module.setdefault(name, []).extend(unplaced)
    return by_module


def owner_of(diagnostic: Diagnostic, modules: Iterable[ModuleInfo]) -> str | None:
    """The module whose directory (the innermost one) holds the file the diagnostic points into."""
    if diagnostic.pos is None or not diagnostic.pos.filename:
        return None
    path = Path(diagnostic.pos.filename)
    path = path if path.is_absolute() else (Path.cwd() / path)
    path = Path(os.path.normpath(path))
    owners = [m for m in modules if path.is_relative_to(m.directory)]
    return max(owners, key=lambda m: len(m.directory.parts)).name if owners else None


def blockers(name: str, broken: set[str], graph: Graph) -> list[str]:
    """The broken modules `name` imports, directly or not: the first ones in the chain."""
    found = (dependencies_of(graph, [name]) - {name}) & broken
    first = [b for b in found if not (dependencies_of(graph, [b]) - {b}) & broken]
    return sorted(first or found)


_UNKNOWN_REFERENCE = re.compile(r'^unknown reference "(?P<module>[A-Za-z_]\w*)\.(?P<name>[^"]+)"')


def deleted_reference(diagnostic: Diagnostic, deleted: set[str]) -> Diagnostic:
    """An unknown reference to a module deleted from disk, said as such: the module keeps
    serving (its removal waits) until nothing uses it."""
    match = _UNKNOWN_REFERENCE.match(diagnostic.message)
    if match is None or match["module"] not in deleted:
        return diagnostic
    module = match["module"]
    message = (
        f"{module}.{match['name']}: module {module} was deleted but is still used here "
        f"({module} keeps serving until nothing uses it)"
    )
    return replace(diagnostic, message=message)


def still_serving(status: DevStatus, names: Iterable[str]) -> str:
    """`orders v2, billing v1 still serving`, for those of `names` that serve (else "")."""
    rows = [row for row in map(status.get, names) if row is not None and row.serving]
    return ", ".join(f"{row.name} v{row.version}" for row in rows) + " still serving" if rows else ""


def relative_to_cwd(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """File names relative to the current directory, as every `ftl` error prints them."""
    result = []
    for diagnostic in sorted_unique(diagnostics):
        pos = diagnostic.pos
        if pos is not None and pos.filename and os.path.isabs(pos.filename):
            with contextlib.suppress(ValueError):
                pos = pos.with_filename(os.path.relpath(pos.filename))
        result.append(Diagnostic(diagnostic.message, pos))
    return sorted_unique(result)
