"""`ftl build`: every module's schema from its sources, merged, validated, with fresh stubs.

Modules are extracted in dependency order (a module's stub is written before its dependents are
imported), in this process. The merged schema (this realm plus pinned external realms) is then
validated as a whole, and on success the realm's public schema file is refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftl.build.discover import ModuleInfo, scan_modules
from ftl.build.graph import dependencies_of, dependency_graph, topological_order
from ftl.build.stubs import remove_stale_stubs, stubs_dir, write_module_stub, write_realm_stubs
from ftl.errors import Diagnostic, FtlError, Position, sorted_unique
from ftl.project import Project
from ftl.runtime.loader import load_module_file
from ftl.schema import ast


@dataclass
class BuildResult:
    """`schema` is the validated merged schema, or None when there are diagnostics."""

    schema: ast.Schema | None
    modules: dict[str, ModuleInfo]
    diagnostics: list[Diagnostic]
    module_schemas: dict[str, ast.Module] = field(default_factory=dict)
    public_schema_written: bool = False

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def build_project(
    project: Project, modules: list[str] | None = None, *, export_public_schema: bool | None = None
) -> BuildResult:
    """Build the project's modules (or `modules` and what they depend on).

    On success the realm's public schema file is refreshed when `export_public_schema` is True; by
    default (None), when the whole project was built.
    """
    infos, diagnostics = scan_modules(project)
    by_name = {info.name: info for info in infos}
    graph = dependency_graph(infos)
    selected = set(by_name)
    if modules:
        unknown = sorted(set(modules) - set(by_name))
        for name in unknown:
            known = ", ".join(sorted(by_name)) or "none"
            diagnostics.append(Diagnostic(f"unknown module {name!r} (modules in this project: {known})"))
        selected = dependencies_of(graph, [m for m in modules if m in by_name])
    order, cycles = topological_order({name: deps for name, deps in graph.items() if name in selected})
    diagnostics.extend(cycles)

    external, realm_problems = _external_realms(project)
    diagnostics.extend(realm_problems)
    clashes = sorted(set(by_name) & {r.name for r in external})
    for name in clashes:
        diagnostics.append(
            Diagnostic(
                f"module {name!r} has the name of a pinned realm: rename one",
                Position(str(by_name[name].directory / "ftl.toml"), 1, 1),
            )
        )
    root = project.root
    for realm in external:
        write_realm_stubs(root, realm)

    extracted: dict[str, ast.Module] = {}
    failed: set[str] = set()
    # Without a pinned realm's stubs, its users would only fail with a misleading ModuleNotFoundError.
    for name in order if not realm_problems else ():
        info = by_name[name]
        broken = sorted(dep for dep in graph[name] if dep in failed)
        if broken:
            # Its client of a broken module is missing or stale: one line at the import, not noise.
            failed.add(name)
            message = f"module {name} is not built: module {broken[0]} has errors"
            diagnostics.append(Diagnostic(message, graph[name][broken[0]]))
            continue
        try:
            loaded = load_module_file(info.module_file, stubs=stubs_dir(root), isolated=True)
        except FtlError as exc:
            failed.add(name)
            diagnostics.extend(exc.diagnostics)
            continue
        extracted[name] = loaded.schema
        write_module_stub(root, loaded.schema)
    if not modules and not realm_problems:
        remove_stale_stubs(root, by_name, [r.name for r in external])

    result = BuildResult(None, {n: by_name[n] for n in sorted(selected)}, [], extracted)
    if diagnostics:
        result.diagnostics = sorted_unique(diagnostics)
        return result
    merged = ast.Schema(
        (
            ast.Realm(
                project.realm,
                tuple(extracted[n] for n in sorted(extracted)),
                pos=Position(str(project.path), 1, 1),
            ),
            *external,
        )
    )
    schema, problems = _validate(merged)
    if problems:
        result.diagnostics = sorted_unique(problems)
        return result
    result.schema = schema
    if export_public_schema or (export_public_schema is None and not modules):
        try:
            result.public_schema_written = _export_public_schema(project, schema)
        except FtlError as exc:  # an export exposing another realm's type, an unreadable file
            result.schema = None
            result.diagnostics = sorted_unique(exc.diagnostics)
    return result


def _external_realms(project: Project) -> tuple[list[ast.Realm], list[Diagnostic]]:
    if not project.realms:
        return [], []
    from ftl.realm import load_external_realms  # ftl.realm builds on this package: import it late

    try:
        return load_external_realms(project), []
    except FtlError as exc:
        return [], exc.diagnostics


def _validate(schema: ast.Schema) -> tuple[ast.Schema, list[Diagnostic]]:
    from ftl.schema import validate_schema

    return validate_schema(schema)


def _export_public_schema(project: Project, schema: ast.Schema) -> bool:
    """Refresh the public schema file when this realm exports anything (or the file exists already)."""
    from ftl.realm import public_schema, write_public_schema

    exported = public_schema(schema, project.realm)
    has_exports = any(m.decls for r in exported.realms for m in r.modules if not m.builtin)
    if not has_exports and not (project.root / project.public_schema).exists():
        return False
    return write_public_schema(project, schema)
