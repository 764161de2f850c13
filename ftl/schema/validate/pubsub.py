"""Subscriptions (spec section 5.4) and the dead-letter topics they imply (5.5).

A `+subscribe ... deadletter` verb `V` of module `M` gets a topic `VFailed` of
`builtin.FailedEvent<Req>` (unless one is declared) and `+publish M.VFailed`; validating the
result again changes nothing.
"""

from __future__ import annotations

from dataclasses import replace

from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report, in_realm, line_col

__all__ = ["check_subscriptions"]

_TOPIC = (ast.Topic,)


def check_subscriptions(module: ast.Module, index: RealmIndex, report: Report) -> ast.Module:
    """Reports subscription errors; returns `module` with its dead-letter topics and publishers."""
    added: dict[str, ast.Topic] = {}
    verbs: dict[int, ast.Verb] = {}
    for position, decl in enumerate(module.decls):
        if not isinstance(decl, ast.Verb):
            continue
        for md in decl.metadata:
            if not isinstance(md, ast.MetadataSubscriber):
                continue
            _check_subscription(decl, md, index, report)
            if md.dead_letter:
                topic = _dead_letter_topic(module, decl, md, index, added, report)
                if topic is not None:
                    verbs[position] = _publishing(verbs.get(position, decl), module.name, topic.name)
    if not added and not verbs:
        return module
    decls = tuple(verbs.get(position, decl) for position, decl in enumerate(module.decls))
    return replace(module, decls=decls + tuple(added.values()))


def _check_subscription(
    verb: ast.Verb, md: ast.MetadataSubscriber, index: RealmIndex, report: Report
) -> None:
    topic = index.resolve(md.topic, _TOPIC)
    if topic is None:
        return  # unknown: reported where references are checked
    if not isinstance(topic, ast.Topic):
        report.error(
            f'verb {verb.name}: expected topic but found {topic.kind} for "{print_type(md.topic)}"',
            md.pos,
            verb.pos,
        )
        return
    event = in_realm(topic.event, md.topic.realm) if md.topic.realm else topic.event
    if verb.request != event:
        report.error(
            f"verb {verb.name}: request type {print_type(verb.request)} differs from subscription's "
            f"event type {print_type(event)}",
            md.pos,
            verb.pos,
        )
    if not isinstance(verb.response, ast.Unit):
        report.error(
            f"verb {verb.name}: must be a sink to subscribe "
            f"but found response type {print_type(verb.response)}",
            md.pos,
            verb.pos,
        )


def _dead_letter_topic(
    module: ast.Module,
    verb: ast.Verb,
    md: ast.MetadataSubscriber,
    index: RealmIndex,
    added: dict[str, ast.Topic],
    report: Report,
) -> ast.Topic | None:
    """The dead-letter topic of `verb`, created if needed; None if a declaration clashes with it."""
    name = f"{verb.name}Failed"
    event = ast.Ref(module=BUILTIN_MODULE, name="FailedEvent", type_args=(verb.request,))
    existing = added.get(name) or index.lookup(module.name, name, _TOPIC)
    if existing is None:
        added[name] = ast.Topic(name=name, event=event)
        return added[name]
    qualified = f"{module.name}.{name}"
    if not isinstance(existing, ast.Topic):
        report.error(
            f"expected {qualified} to be a dead letter topic but was already declared at "
            f"{line_col(existing.pos)}",
            md.pos,
            verb.pos,
        )
        return None
    if existing.event != event:
        report.error(
            f"dead letter topic {qualified} must have the same event type ({print_type(existing.event)}) "
            f"as the subscription request type ({print_type(event)})",
            md.pos,
            verb.pos,
        )
        return None
    return existing


def _publishing(verb: ast.Verb, module: str, topic: str) -> ast.Verb:
    """`verb` with `+publish module.topic` (merged into its first `+publish`)."""
    target = ast.Ref(module=module, name=topic)
    metadata = list(verb.metadata)
    for position, md in enumerate(metadata):
        if isinstance(md, ast.MetadataPublisher):
            if any(ref.key == target.key and not ref.realm for ref in md.topics):
                return verb
            metadata[position] = replace(md, topics=(*md.topics, target))
            return replace(verb, metadata=tuple(metadata))
    return replace(verb, metadata=(*metadata, ast.MetadataPublisher(topics=(target,))))
