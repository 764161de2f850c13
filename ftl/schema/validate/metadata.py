"""Which metadata may appear where (M7-M9, M11, M12, R12). Module and topic metadata is free."""

from __future__ import annotations

from ftl.errors import Position
from ftl.schema import ast
from ftl.schema._gostrings import quote
from ftl.schema.printer import print_metadata
from ftl.schema.validate._context import Report

__all__ = ["check_metadata_placement"]

_NOT_ON_DATA = (
    ast.MetadataCalls,
    ast.MetadataSecrets,
    ast.MetadataConfig,
    ast.MetadataSQLColumn,
    ast.MetadataSQLQuery,
)
_ON_FIELDS = (ast.MetadataAlias, ast.MetadataSQLColumn)
# Upstream's names for "verb can not have multiple instances of X".
_INSTANCE_NAMES = {
    "calls": "calls",
    "config": "config",
    "secrets": "secrets",
    "publish": "publisher",
    "database": "databases",
    "ingress": "ingress",
    "cron": "cronjob",
    "alias": "alias",
    "retry": "retry",
    "typemap": "typemap",
    "encoding": "encoding",
    "migration": "sqlmigration",
    "artefact": "artefact",
    "partitions": "partitions",
    "sql query": "sqlquery",
    "sql column": "sqlcolumn",
    "generated": "generated",
    "git": "git",
    "fixture": "fixture",
    "transaction": "transaction",
    "egress": "egress",
    "image": "image",
}


def check_metadata_placement(module: ast.Module, report: Report) -> None:
    for decl in module.decls:
        if isinstance(decl, ast.Data):
            for md in decl.metadata:
                if isinstance(md, _NOT_ON_DATA):
                    _not_valid(md, "data structures", report)
            for field in decl.fields:
                for md in field.metadata:
                    if not isinstance(md, _ON_FIELDS):
                        _not_valid(md, "fields", report)
        elif isinstance(decl, ast.Verb):
            _check_verb(decl, report)
        elif isinstance(decl, ast.TypeAlias):
            for md in decl.metadata:
                if not isinstance(md, ast.MetadataTypeMap):
                    _not_valid(md, "type aliases", report)
        elif isinstance(decl, ast.Database):
            _check_database(decl, report)


def _check_verb(verb: ast.Verb, report: Report) -> None:
    if len(verb.metadata) < 2:
        for md in verb.metadata:
            if isinstance(md, ast.MetadataSQLColumn):
                _not_valid(md, "verbs", report)
        return
    seen: set[str] = set()
    for md in verb.metadata:
        if isinstance(md, ast.MetadataSQLColumn):
            _not_valid(md, "verbs", report)
            continue
        if md.kind in seen:
            if isinstance(md, ast.MetadataSubscriber):
                report.error("verb can not subscribe to multiple topics", md.pos, verb.pos)
            else:
                name = _INSTANCE_NAMES.get(md.kind, md.kind)
                report.error(f"verb can not have multiple instances of {name}", md.pos, verb.pos)
        seen.add(md.kind)


def _check_database(database: ast.Database, report: Report) -> None:
    migrations = 0
    for md in database.metadata:
        if not isinstance(md, ast.MetadataSQLMigration):
            _not_valid(md, "databases", report, database.pos)
            continue
        migrations += 1
        if migrations == 2:
            report.error(f'database "{database.name}" has multiple migration metadata', md.pos, database.pos)


def _not_valid(md: ast.Metadata, where: str, report: Report, fallback: Position = ast.NO_POS) -> None:
    report.error(f"metadata {quote(print_metadata(md))} is not valid on {where}", md.pos, fallback)
