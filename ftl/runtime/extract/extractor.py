"""One module's schema from its imported Python package.

Verbs and topics are what the package declared (decorators, `ftl.topic`); data types, enums and
aliases follow from them; config and secrets from verb parameters. Visibility then spreads from
exported verbs and topics to everything their signatures reach.
"""

from __future__ import annotations

import ast as pyast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from ftl._sdk import registry
from ftl._sdk.decorators import verb_spec
from ftl._sdk.topics import Topic
from ftl.errors import Diagnostic, FtlError, Position
from ftl.names import is_identifier
from ftl.runtime.extract.decls import ModuleDecls, Settings, doc_lines
from ftl.runtime.extract.resolver import Where
from ftl.runtime.extract.source import place, source_of_module
from ftl.runtime.extract.typenodes import ObjectNode, Scope, SourceNode, TypeNode
from ftl.runtime.extract.usage import UsageFinder
from ftl.runtime.extract.verbs import VerbExtractor, VerbHandle
from ftl.schema import ast

DECL_ORDER = {
    "config": 0,
    "secret": 1,
    "database": 2,
    "topic": 3,
    "typealias": 4,
    "enum": 5,
    "data": 6,
    "verb": 7,
}


@dataclass(frozen=True)
class Extracted:
    schema: ast.Module
    verbs: dict[str, VerbHandle]
    topics: tuple[Topic[object], ...]


def extract_package(name: str, package: str, python_modules: Iterable[ModuleType]) -> Extracted:
    """The schema of module `name` from the already imported modules of `package`.

    Raises FtlError with every problem found, each at its place in the user's code.
    """
    diagnostics: list[Diagnostic] = []
    decls = ModuleDecls(name, package, diagnostics)
    settings = Settings(name, diagnostics)
    verbs = VerbExtractor(decls, settings, UsageFinder(decls.is_local))
    verb_decls: dict[str, ast.Verb] = {}
    handles: dict[str, VerbHandle] = {}
    topic_decls: dict[str, ast.Topic] = {}
    topics: list[Topic[object]] = []
    for python_module in sorted(python_modules, key=lambda m: m.__name__):
        for declared in registry.declared_in(python_module.__name__):
            if isinstance(declared, Topic):
                topic = _topic(declared, name, decls)
                if topic is None:
                    continue
                if topic.name in topic_decls:
                    decls.error(
                        f"two topics are named {topic.name!r} "
                        f"(the other at {place(topic_decls[topic.name].pos, topic.pos)})",
                        topic.pos,
                    )
                    continue
                declared.module = name
                topic_decls[topic.name] = topic
                topics.append(declared)
            elif callable(declared) and verb_spec(declared) is not None:
                extracted = verbs.extract(declared)
                if extracted is None:
                    continue
                verb, handle = extracted
                if verb.name in verb_decls:
                    decls.error(
                        f"two verbs are named {verb.name!r} "
                        f"(the other at {place(verb_decls[verb.name].pos, verb.pos)}): rename one",
                        verb.pos,
                    )
                    continue
                verb_decls[verb.name] = verb
                handles[verb.name] = handle
    decls.finish()
    if diagnostics:
        raise FtlError(diagnostics)
    types = _propagate_visibility(name, decls.types, [*verb_decls.values(), *topic_decls.values()])
    all_decls: list[ast.Decl] = [
        *settings.configs.values(),
        *settings.secrets.values(),
        *topic_decls.values(),
        *types.values(),
        *verb_decls.values(),
    ]
    all_decls.sort(key=lambda d: (DECL_ORDER[d.kind], d.name))
    root = sys.modules.get(package)
    source = source_of_module(package)
    module = ast.Module(
        name,
        tuple(all_decls),
        comments=doc_lines(source.tree) if source else (),
        pos=Position(str(getattr(root, "__file__", "") or package), 1, 1),
    )
    return Extracted(module, handles, tuple(topics))


def _topic(topic: Topic[object], module: str, decls: ModuleDecls) -> ast.Topic | None:
    source = source_of_module(topic.python_module)
    statement = source.statement_at(topic.line) if source and topic.line else None
    python_module = sys.modules[topic.python_module]
    pos = Position(str(getattr(python_module, "__file__", topic.python_module)), topic.line or 1, 1)
    event: TypeNode = ObjectNode(topic.event, pos)
    if source is not None and statement is not None:
        target = (
            statement.targets[0]
            if isinstance(statement, pyast.Assign)
            else getattr(statement, "target", None)
        )
        pos = source.pos(target if target is not None else statement)
        call = next(
            (n for n in pyast.walk(statement) if isinstance(n, pyast.Call) and len(n.args) >= 2), None
        )
        event_expr = call.args[1] if call else None
        if event_expr is not None:
            event = SourceNode(event_expr, source)
    if not is_identifier(topic.name) or not topic.name[0].islower():
        decls.error(
            f"topic name {topic.name!r} is invalid: start it with a lowercase letter, "
            "followed by letters, digits or underscores",
            pos,
        )
        return None
    if not isinstance(topic.partitions, int) or topic.partitions < 1:
        decls.error(f"partitions must be a positive int, not {topic.partitions!r}", pos)
        return None
    event_type = decls.resolver.resolve(event, Scope(python_module, source), Where())
    if event_type is None:
        return None
    visibility = {True: ast.Visibility.MODULE, "realm": ast.Visibility.REALM}.get(
        topic.export, ast.Visibility.NONE
    )
    metadata: tuple[ast.Metadata, ...] = (
        (ast.MetadataPartitions(topic.partitions, pos=pos),) if topic.partitions != 1 else ()
    )
    return ast.Topic(topic.name, event_type, visibility=visibility, metadata=metadata, pos=pos)


def _propagate_visibility(
    module: str, types: dict[str, ast.Decl], roots: list[ast.Verb | ast.Topic]
) -> dict[str, ast.Decl]:
    """Raise every type declaration to the highest visibility of an exported decl that reaches it."""
    level = {name: ast.visibility_of(decl) for name, decl in types.items()}

    def reach(decl: ast.Decl, visibility: ast.Visibility) -> None:
        for ref in _local_refs(module, decl):
            target = types.get(ref.name)
            if target is not None and level[ref.name] < visibility:
                level[ref.name] = visibility
                reach(target, visibility)

    for root in roots:
        if root.visibility > ast.Visibility.NONE:
            reach(root, root.visibility)
    return {name: ast.replace(decl, visibility=level[name]) for name, decl in types.items()}


def _local_refs(module: str, decl: ast.Decl) -> list[ast.Ref]:
    if isinstance(decl, ast.Verb):
        parts: list[ast.Node] = [decl.request, decl.response]
    elif isinstance(decl, ast.Topic):
        parts = [decl.event]
    else:
        parts = [decl]
    return [
        node
        for part in parts
        for node in ast.walk(part)
        if isinstance(node, ast.Ref) and node.module == module
    ]
