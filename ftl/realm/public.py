"""A realm's public schema: its `export realm` declarations plus everything they reach.

Differences from upstream's `Schema.External()` (schema-language.md §9.2), all deliberate:
- type-parameter references (module "") are skipped instead of crashing the traversal;
- the output is canonical and deterministic: modules by name, declarations (and verb metadata)
  in the validator's order, no positions, no module metadata (`+git` would carry commit ids);
- the builtin module is left out: validation injects it into every realm, external ones too;
- `+calls` targets (and `+retry` catch verbs) in other realms are dropped: whom a verb calls
  elsewhere is an implementation detail, and the reader of the file has no schema of that realm;
- any other reachable reference into a third realm (`m.T@other`) is refused, since a realm may
  only publish its own types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ftl.errors import Diagnostic, FtlError, Position
from ftl.schema import ast
from ftl.schema.validate.normalise import sort_module

_STRIPPED_METADATA = (ast.MetadataConfig, ast.MetadataSecrets)


def public_schema(schema: ast.Schema, realm: str) -> ast.Schema:
    """The public schema of the internal realm `realm` of `schema` (an empty realm if it has none)."""
    source = next((r for r in schema.realms if r.name == realm and not r.external), None)
    if source is None:
        return ast.Schema(realms=(ast.Realm(name=realm),))
    kept = [(module, _strip_metadata(decl)) for module, decl in _reachable(source)]
    leaks = [d for module, decl in kept for d in _third_realm_refs(module, decl)]
    if leaks:
        raise FtlError(leaks)
    by_module: dict[str, list[ast.Decl]] = {}
    for module, decl in kept:
        by_module.setdefault(module, []).append(decl)
    modules = []
    for module in sorted(by_module):
        original = source.module(module)
        assert original is not None
        # The validator's own order, so the public file reads back (and re-exports) unchanged.
        modules.append(
            sort_module(ast.Module(name=module, decls=tuple(by_module[module]), comments=original.comments))
        )
    public = ast.Schema(realms=(ast.Realm(name=realm, modules=tuple(modules)),))
    stripped: ast.Schema = without_positions(public)
    return stripped


def check_no_third_realm_leak(realm: ast.Realm) -> list[Diagnostic]:
    """Errors for every reference in `realm` (a fetched public schema) into another realm."""
    return [
        leak
        for module in realm.modules
        for decl in module.decls
        for leak in _third_realm_refs(module.name, decl)
    ]


def _reachable(realm: ast.Realm) -> list[tuple[str, ast.Decl]]:
    """(module, decl) for every root and everything it reaches, each once, in traversal order."""
    index: dict[tuple[str, str], list[ast.Decl]] = {}
    for module in realm.modules:
        if module.builtin:
            continue
        for decl in module.decls:
            index.setdefault((module.name, decl.name), []).append(decl)
    pending = [  # a stack: reversed so that roots are visited in source order
        (module.name, decl)
        for module in realm.modules
        if not module.builtin
        for decl in module.decls
        if ast.visibility_of(decl) == ast.Visibility.REALM
    ][::-1]
    seen: set[int] = set()
    order: list[tuple[str, ast.Decl]] = []
    while pending:
        module_name, decl = pending.pop()
        if id(decl) in seen or isinstance(decl, ast.Config | ast.Secret):
            continue
        seen.add(id(decl))
        order.append((module_name, decl))
        targets: list[tuple[str, ast.Decl]] = []
        for ref, wanted in _outgoing_refs(decl):
            if ref.realm or ref.module == "builtin":
                continue
            target_module = ref.module or module_name
            if not ref.module and _is_type_parameter(decl, ref):
                continue
            candidates = index.get((target_module, ref.name), [])
            chosen = [c for c in candidates if isinstance(c, wanted)] or candidates
            targets.extend((target_module, c) for c in chosen[:1])
        pending.extend(reversed(targets))
    return order


def _is_type_parameter(decl: ast.Decl, ref: ast.Ref) -> bool:
    return isinstance(decl, ast.Data) and any(p.name == ref.name for p in decl.type_params)


def _outgoing_refs(decl: ast.Decl) -> Iterator[tuple[ast.Ref, tuple[type, ...]]]:
    """Each reference `decl` makes (outside stripped metadata), with the kinds it may name."""
    stack: list[tuple[ast.Node, tuple[type, ...]]] = [(decl, ast.TYPE_DECLS)]
    while stack:
        node, wanted = stack.pop()
        if isinstance(node, _STRIPPED_METADATA):
            continue
        if isinstance(node, ast.Ref):
            yield node, wanted
        stack.extend((child, _wanted_by(node, wanted)) for child in ast.children(node))


def _wanted_by(parent: ast.Node, inherited: tuple[type, ...]) -> tuple[type, ...]:
    if isinstance(parent, ast.MetadataCalls | ast.MetadataRetry):
        return (ast.Verb,)
    if isinstance(parent, ast.MetadataPublisher | ast.MetadataSubscriber):
        return (ast.Topic,)
    if isinstance(parent, ast.MetadataDatabases):
        return (ast.Database,)
    if isinstance(parent, ast.Ref):
        return ast.TYPE_DECLS  # type arguments are types whatever the outer ref names
    return inherited


def _third_realm_refs(module: str, decl: ast.Decl) -> Iterator[Diagnostic]:
    for ref, _ in _outgoing_refs(decl):
        if ref.realm:
            yield Diagnostic(
                f"{module}.{decl.name} exposes {ref.module}.{ref.name}@{ref.realm} of realm "
                f"{ref.realm!r}: a public schema may not expose another realm's declarations",
                ref.pos if ref.pos != ast.NO_POS else None,
            )


def _strip_metadata(decl: ast.Decl) -> ast.Decl:
    """`decl` without `+config`/`+secrets` and without calls into other realms."""
    metadata = getattr(decl, "metadata", None)
    if not metadata:
        return decl
    kept: list[ast.Metadata] = []
    for item in metadata:
        if isinstance(item, _STRIPPED_METADATA):
            continue
        if isinstance(item, ast.MetadataCalls):
            in_realm = tuple(ref for ref in item.calls if not ref.realm)
            if not in_realm:
                continue
            item = item if len(in_realm) == len(item.calls) else ast.replace(item, calls=in_realm)
        elif isinstance(item, ast.MetadataRetry) and item.catch is not None and item.catch.realm:
            item = ast.replace(item, catch=None)
        kept.append(item)
    return decl if kept == list(metadata) else ast.replace(decl, metadata=tuple(kept))


def without_positions(node: Any) -> Any:
    """A copy of `node` (and everything below it) with every position cleared."""
    if isinstance(node, tuple):
        return tuple(without_positions(item) for item in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, type | Position):
        return node
    changes = {
        f.name: without_positions(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "pos"
    }
    return dataclasses.replace(node, pos=ast.NO_POS, **changes)
