"""`+sql query` and `+transaction` verbs (spec section 5.6): each reaches exactly one database,
counting its own `+database uses` and those of every verb it calls, transitively; a transaction
verb does not call another transaction verb."""

from __future__ import annotations

from collections.abc import Iterable

from ftl.schema import ast
from ftl.schema.validate._context import RealmIndex, Report

__all__ = ["check_datasources"]

_VERB = (ast.Verb,)


def check_datasources(modules: Iterable[ast.Module], index: RealmIndex, report: Report) -> None:
    for module in modules:
        for verb in module.verbs():
            query = any(isinstance(md, ast.MetadataSQLQuery) for md in verb.metadata)
            transaction = any(isinstance(md, ast.MetadataTransaction) for md in verb.metadata)
            if not (query or transaction):
                continue
            databases = _reachable_databases(verb, index)
            if query:
                if not databases:
                    report.error("query verb must specify a corresponding datasource", verb.pos)
                elif len(databases) > 1:
                    report.error("query verbs can only access a single datasource", verb.pos)
            if transaction:
                if not databases:
                    report.error("transaction verbs must access a datasource", verb.pos)
                elif len(databases) > 1:
                    report.error("transaction verbs can only access a single datasource", verb.pos)
                if any(_is_transaction(callee) for callee in _callees(verb, index)):
                    report.error("transaction verbs cannot inject nested transactions", verb.pos)


def _callees(verb: ast.Verb, index: RealmIndex) -> list[ast.Verb]:
    found = []
    for md in verb.metadata:
        if isinstance(md, ast.MetadataCalls):
            for ref in md.calls:
                callee = index.resolve(ref, _VERB)
                if isinstance(callee, ast.Verb):
                    found.append(callee)
    return found


def _is_transaction(verb: ast.Verb) -> bool:
    return any(isinstance(md, ast.MetadataTransaction) for md in verb.metadata)


def _reachable_databases(start: ast.Verb, index: RealmIndex) -> set[tuple[str, str, str]]:
    databases: set[tuple[str, str, str]] = set()
    seen = {id(start)}
    pending = [start]
    while pending:
        verb = pending.pop()
        for md in verb.metadata:
            if isinstance(md, ast.MetadataDatabases):
                databases.update((ref.realm, ref.module, ref.name) for ref in md.uses)
        for callee in _callees(verb, index):
            if id(callee) not in seen:
                seen.add(id(callee))
                pending.append(callee)
    return databases
