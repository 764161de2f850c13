"""Where a project's modules still refer to a pinned realm (so `ftl realm remove` can refuse).

Two sources, merged: the built schema (every `module.decl@realm` reference extraction found),
when the build succeeds; and a scan of the module sources for imports of the realm's generated
stubs (`ftl_modules.<realm>`) and `@realm` references in schema text, which works even when
the build does not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path
from ftl.project import Project
from ftl.schema import ast

_SKIPPED_DIRS = {"__pycache__", "node_modules", "venv", "site-packages"}
_SOURCE_SUFFIXES = {".py", ".ftl"}


def realm_references(project: Project, realm: str) -> list[Diagnostic]:
    found = {(d.pos, d.message): d for d in _from_sources(project, realm)}
    for diagnostic in _from_schema(project, realm):
        found.setdefault((diagnostic.pos, diagnostic.message), diagnostic)
    return sorted(found.values())


def _from_schema(project: Project, realm: str) -> Iterator[Diagnostic]:
    from ftl.build import build_project, discover_modules  # late: only this needs the build machinery

    try:
        # Naming every module keeps the build from also rewriting the public schema file.
        names = [module.name for module in discover_modules(project)]
        result = build_project(project, names) if names else None
    except FtlError:
        return
    if result is None or result.schema is None:
        return
    for internal in result.schema.internal_realms():
        for module in internal.modules:
            for decl in module.decls:
                for node in ast.walk(decl):
                    if isinstance(node, ast.Ref) and node.realm == realm:
                        yield Diagnostic(
                            f"{module.name}.{decl.name} refers to {node.module}.{node.name}@{realm}",
                            _relative(node.pos) if node.pos != ast.NO_POS else None,
                        )


def _relative(pos: Position) -> Position:
    return pos.with_filename(display_path(Path(pos.filename))) if os.path.isabs(pos.filename) else pos


def _from_sources(project: Project, realm: str) -> Iterator[Diagnostic]:
    name = re.escape(realm)
    patterns = (
        (re.compile(rf"\bftl_modules\.{name}\b"), "imports the stubs of realm"),
        (re.compile(rf"\bfrom\s+ftl_modules\s+import\s+(?:.*[\s,(])?{name}\b"), "imports the stubs of realm"),
        (re.compile(rf"\b[A-Za-z_]\w*\.[A-Za-z_]\w*@{name}\b"), "refers to realm"),
    )
    for path in _source_files(project):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(lines, start=1):
            for pattern, what in patterns:
                match = pattern.search(line)
                if match:
                    place = Position(display_path(path), number, match.start() + 1)
                    yield Diagnostic(f"{what} {realm!r}", place)
                    break


def _source_files(project: Project) -> Iterator[Path]:
    seen: set[Path] = set()
    for root in project.module_roots():
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
            for file in sorted(files):
                path = Path(directory) / file
                if path.suffix in _SOURCE_SUFFIXES and path not in seen:
                    seen.add(path)
                    yield path
