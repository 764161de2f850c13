"""Schema validation: every rule of the spec (section 8), all errors at once, and the normalised schema.

    validate_schema(schema) -> (normalised schema, diagnostics)    a document of realms
    validate_module(module) -> (normalised module, diagnostics)    one module on its own

Per realm: inject the builtin module (`normalise`), check names (`names`, `realms`), resolve and
qualify every reference (`references`), then run the per-module rules (`metadata`, `enums`,
`ingress`, `cronjobs`, `retry`, `egress`, `pubsub`, which also adds dead-letter topics) and the
realm-wide ones (`cycles`, `visibility`, `ingress` routes, `datasources`), and sort (`normalise`).
Diagnostics come back sorted by position and without duplicates. Module mode runs only the
module-local rules, as upstream's `ParseModuleString` does.
"""

from __future__ import annotations

from dataclasses import replace

from ftl.errors import Diagnostic, sorted_unique
from ftl.schema import ast
from ftl.schema._gc import paused_gc
from ftl.schema.builtin import BUILTIN_MODULE, BUILTINS
from ftl.schema.validate._context import RealmIndex, Report
from ftl.schema.validate.cronjobs import check_cron_jobs
from ftl.schema.validate.cycles import check_cycles
from ftl.schema.validate.datasources import check_datasources
from ftl.schema.validate.egress import check_egress
from ftl.schema.validate.enums import check_enums
from ftl.schema.validate.ingress import check_ingress, check_unique_routes
from ftl.schema.validate.metadata import check_metadata_placement
from ftl.schema.validate.names import check_declaration_names, check_module_names
from ftl.schema.validate.normalise import inject_builtins, sort_module
from ftl.schema.validate.pubsub import check_subscriptions
from ftl.schema.validate.realms import check_realm_names
from ftl.schema.validate.references import References
from ftl.schema.validate.retry import check_retries
from ftl.schema.validate.visibility import check_visibility

__all__ = ["validate_module", "validate_schema"]


def validate_schema(schema: ast.Schema) -> tuple[ast.Schema, list[Diagnostic]]:
    """The normalised schema and every error in it (empty when it is valid)."""
    with paused_gc():
        return _validate_schema(schema)


def validate_module(module: ast.Module) -> tuple[ast.Module, list[Diagnostic]]:
    """The normalised module and the errors the module shows on its own (no cross-module rules)."""
    with paused_gc():
        return _validate_module(module)


def _validate_schema(schema: ast.Schema) -> tuple[ast.Schema, list[Diagnostic]]:
    report = Report()
    check_realm_names(schema, report)

    modules_of = [inject_builtins(realm.modules) for realm in schema.realms]
    written = _indexes(schema.realms, modules_of)
    resolved_of: list[tuple[ast.Module, ...]] = []
    dependencies_of: list[dict[str, set[str]]] = []
    for modules, index in zip(modules_of, written, strict=True):
        check_module_names(modules[1:], report)
        references = References(index, index.others, report)
        resolved_of.append((modules[0], *(references.module(module) for module in modules[1:])))
        dependencies_of.append(references.dependencies)

    resolved = _indexes(schema.realms, resolved_of)
    realms = []
    for realm, modules, index, dependencies in zip(
        schema.realms, resolved_of, resolved, dependencies_of, strict=True
    ):
        checked = (modules[0], *(_check_module(module, index, report, True) for module in modules[1:]))
        user_modules = checked[1:]
        check_cycles(dependencies, report)
        check_visibility(user_modules, index, report)
        check_unique_routes(user_modules, report)
        check_datasources(user_modules, index, report)
        realms.append(_rebuilt(realm, tuple(sort_module(module) for module in checked)))

    if all(new is old for new, old in zip(realms, schema.realms, strict=True)):
        return schema, sorted_unique(report.diagnostics)
    return replace(schema, realms=tuple(realms)), sorted_unique(report.diagnostics)


def _validate_module(module: ast.Module) -> tuple[ast.Module, list[Diagnostic]]:
    report = Report()
    check_module_names((module,), report)
    context = (module,) if module.name == BUILTIN_MODULE else (BUILTINS, module)
    references = References(RealmIndex("", False, context), {}, report, realm_wide=False)
    resolved = references.module(module)
    index = RealmIndex("", False, (resolved,) if module.name == BUILTIN_MODULE else (BUILTINS, resolved))
    checked = _check_module(resolved, index, report, False)
    return sort_module(checked), sorted_unique(report.diagnostics)


def _check_module(module: ast.Module, index: RealmIndex, report: Report, realm_wide: bool) -> ast.Module:
    """The module-local rules; returns the module with its dead-letter topics added."""
    check_declaration_names(module, report)
    check_metadata_placement(module, report)
    check_enums(module, index, report)
    check_ingress(module, index, report)
    check_cron_jobs(module, report)
    check_retries(module, index, report, realm_wide)
    check_egress(module, report)
    return check_subscriptions(module, index, report)


def _indexes(realms: tuple[ast.Realm, ...], modules_of: list[tuple[ast.Module, ...]]) -> list[RealmIndex]:
    """An index per realm, each able to see every realm (the first of each name) for `@realm` refs."""
    indexes = [
        RealmIndex(realm.name, realm.external, modules)
        for realm, modules in zip(realms, modules_of, strict=True)
    ]
    by_name: dict[str, RealmIndex] = {}
    for index in indexes:
        by_name.setdefault(index.name, index)
    for index in indexes:
        index.others = by_name
    return indexes


def _rebuilt(realm: ast.Realm, modules: tuple[ast.Module, ...]) -> ast.Realm:
    if len(modules) == len(realm.modules) and all(
        new is old for new, old in zip(modules, realm.modules, strict=True)
    ):
        return realm
    return replace(realm, modules=modules)
