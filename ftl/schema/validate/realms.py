"""Realm rules: unique realm names, and references into another realm (`module.decl@realm`).

A realm reference must name an `external realm` of the schema, and a declaration there that is
`export realm` (this project's extension; upstream has no cross-realm references).
"""

from __future__ import annotations

from collections.abc import Mapping

from ftl.schema import ast
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report

__all__ = ["check_realm_names", "resolve_realm_ref"]


def check_realm_names(schema: ast.Schema, report: Report) -> None:
    seen: set[str] = set()
    for realm in schema.realms:
        if realm.name in seen:
            report.error(f'duplicate realm "{realm.name}"', realm.pos)
        seen.add(realm.name)


def resolve_realm_ref(
    ref: ast.Ref,
    current: RealmIndex,
    realms: Mapping[str, RealmIndex],
    prefer: tuple[type, ...],
    report: Report,
) -> ast.Decl | None:
    """The declaration `ref` (which has a realm) names, reporting why it cannot be used."""
    target = realms.get(ref.realm)
    if target is None or not target.external or target is current:
        why = "" if target is None else ": only an external realm can be referenced with @"
        report.error(f'unknown realm "{ref.realm}"{why}', ref.pos)
        return None
    decl = target.lookup(ref.module, ref.name, prefer) if ref.module else None
    if decl is None:
        report.error(f"unknown reference {_quoted(ref)}, is the type annotated and exported?", ref.pos)
        return None
    if ast.visibility_of(decl) < ast.Visibility.REALM:
        report.error(
            f'{decl.kind} "{ref.module}.{ref.name}" is not exported to other realms '
            f'(it is not "export realm" in realm "{ref.realm}")',
            ref.pos,
        )
    return decl


def _quoted(ref: ast.Ref) -> str:
    return '"' + print_type(ref) + '"'
