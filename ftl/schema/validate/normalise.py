"""The canonical shape of a validated schema (spec section 7): the builtin module first in every
realm, declarations sorted by kind then name, verb metadata in upstream's order with ref lists
and egress targets sorted. Upstream sorts a verb's metadata only when it has two or more items;
we always sort, so the canonical form does not depend on how many there are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE, BUILTINS

__all__ = ["inject_builtins", "sort_module"]

_DECL_ORDER: dict[type, int] = {
    ast.Config: 0,
    ast.Secret: 1,
    ast.Database: 2,
    ast.Topic: 3,
    ast.TypeAlias: 4,
    ast.Enum: 5,
    ast.Data: 6,
    ast.Verb: 7,
}
_METADATA_ORDER: dict[type, int] = {
    kind: order
    for order, kind in enumerate(
        (
            ast.MetadataIngress,
            ast.MetadataAlias,
            ast.MetadataEncoding,
            ast.MetadataCalls,
            ast.MetadataDatabases,
            ast.MetadataSecrets,
            ast.MetadataConfig,
            ast.MetadataCronJob,
            ast.MetadataPublisher,
            ast.MetadataSubscriber,
            ast.MetadataRetry,
            ast.MetadataTypeMap,
            ast.MetadataSQLMigration,
            ast.MetadataArtefact,
            ast.MetadataSQLColumn,
            ast.MetadataSQLQuery,
            ast.MetadataPartitions,
            ast.MetadataGenerated,
            ast.MetadataGit,
            ast.MetadataFixture,
            ast.MetadataTransaction,
            ast.MetadataEgress,
            ast.MetadataImage,
        )
    )
}
_REF_LISTS: dict[type, str] = {
    ast.MetadataCalls: "calls",
    ast.MetadataDatabases: "uses",
    ast.MetadataSecrets: "secrets",
    ast.MetadataConfig: "config",
    ast.MetadataPublisher: "topics",
}


def inject_builtins(modules: Iterable[ast.Module]) -> tuple[ast.Module, ...]:
    """The builtin module first, replacing any module of that name."""
    return (BUILTINS, *(module for module in modules if module.name != BUILTIN_MODULE))


def sort_module(module: ast.Module) -> ast.Module:
    if module.builtin and module.name == BUILTIN_MODULE:
        return module  # keeps its source order
    ordered = sorted(module.decls, key=_decl_key)
    decls = tuple(_sort_verb(decl) if isinstance(decl, ast.Verb) else decl for decl in ordered)
    if all(new is old for new, old in zip(decls, module.decls, strict=True)):
        return module
    return replace(module, decls=decls)


def _decl_key(decl: ast.Decl) -> tuple[int, str]:
    return (_DECL_ORDER[type(decl)], decl.name)


def _sort_verb(verb: ast.Verb) -> ast.Verb:
    if not verb.metadata:
        return verb
    ordered = sorted(verb.metadata, key=lambda md: _METADATA_ORDER[type(md)])
    metadata = tuple(_sort_items(md) for md in ordered)
    if all(new is old for new, old in zip(metadata, verb.metadata, strict=True)):
        return verb
    return replace(verb, metadata=metadata)


def _sort_items(md: ast.Metadata) -> ast.Metadata:
    attribute = _REF_LISTS.get(type(md))
    if attribute is not None:
        refs: tuple[ast.Ref, ...] = getattr(md, attribute)
        ordered = tuple(sorted(refs, key=lambda ref: (ref.module, ref.name, ref.realm)))
        if all(new is old for new, old in zip(ordered, refs, strict=True)):
            return md
        changed: ast.Metadata = replace(md, **{attribute: ordered})  # type: ignore[arg-type]
        return changed
    if isinstance(md, ast.MetadataEgress):
        targets = tuple(sorted(md.targets))
        return md if targets == md.targets else replace(md, targets=targets)
    return md
