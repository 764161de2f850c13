"""What the pages show, computed from the live schema, the deployments and the timeline. Pure data.

Handlers in `app` call these and hand the results to the templates, so every rule about what a
page lists (which modules, which declarations, how an event is summarised) is testable here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from markupsafe import Markup

from ftl.devserver.console.formatting import pretty_json
from ftl.devserver.console.highlight import LinkRef, highlight_schema
from ftl.devserver.timeline import TimelineEvent
from ftl.names import lower_camel
from ftl.project import RealmPin
from ftl.schema import ast, print_decl, print_module, print_type

__all__ = [
    "DECL_GROUPS",
    "Deployment",
    "ModuleRow",
    "RealmView",
    "decl_groups",
    "event_details",
    "event_summary",
    "find_module",
    "find_verb",
    "highlighted_decl",
    "highlighted_module",
    "module_rows",
    "realm_views",
    "ref_linker",
    "signature",
    "visibility",
]

SUMMARY_CHARS: Final = 160

# Declaration kinds in the order a module page lists them, with their headings.
DECL_GROUPS: Final = (
    ("verb", "Verbs"),
    ("data", "Data"),
    ("enum", "Enums"),
    ("typealias", "Type aliases"),
    ("topic", "Topics"),
    ("config", "Config"),
    ("secret", "Secrets"),
    ("database", "Databases"),
)


class Deployment(Protocol):
    """What the console reads of a deployment (the backplane's `DeploymentInfo`)."""

    @property
    def key(self) -> str: ...
    @property
    def module(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def version(self) -> int: ...


class FailedDeploy(Protocol):
    """A module's newest deploy attempt that failed (the backplane's `FailedDeploy`)."""

    @property
    def changeset(self) -> str: ...
    @property
    def modules(self) -> tuple[str, ...]: ...
    @property
    def reason(self) -> str: ...
    @property
    def diagnostics(self) -> tuple[str, ...]: ...
    @property
    def at(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ModuleRow:
    name: str
    verbs: int
    comment: str  # the first line of the module's doc comment
    in_schema: bool
    deployments: tuple[Deployment, ...]  # newest version first
    failure: FailedDeploy | None = None  # its newest deploy failed; the version above still serves

    @property
    def current(self) -> Deployment | None:
        """The deployment that answers calls: the newest live one, else the newest at all."""
        live = [d for d in self.deployments if d.state == "live"]
        candidates = live or list(self.deployments)
        return candidates[0] if candidates else None

    @property
    def state(self) -> str:
        current = self.current
        return current.state if current is not None else "not deployed"


def own_modules(schema: ast.Schema) -> list[ast.Module]:
    return [m for realm in schema.internal_realms() for m in realm.modules if not m.builtin]


def module_rows(
    schema: ast.Schema, deployments: Iterable[Deployment], failures: Mapping[str, FailedDeploy] | None = None
) -> list[ModuleRow]:
    """One row per module that is in the live schema, has a deployment or failed to deploy, by name."""
    failures = failures or {}
    by_module: dict[str, list[Deployment]] = {}
    for deployment in deployments:
        by_module.setdefault(deployment.module, []).append(deployment)
    modules = {m.name: m for m in own_modules(schema)}
    rows = []
    for name in sorted(set(modules) | set(by_module) | set(failures)):
        module = modules.get(name)
        found = sorted(by_module.get(name, []), key=lambda d: d.version, reverse=True)
        rows.append(
            ModuleRow(
                name=name,
                verbs=sum(1 for _ in module.verbs()) if module else 0,
                comment=module.comments[0] if module and module.comments else "",
                in_schema=module is not None,
                deployments=tuple(found),
                failure=failures.get(name),
            )
        )
    return rows


def find_module(schema: ast.Schema, name: str) -> ast.Module | None:
    return next((m for m in own_modules(schema) if m.name == name), None)


def find_verb(schema: ast.Schema, module_name: str, verb_name: str) -> tuple[ast.Module, ast.Verb] | None:
    """The verb of one of our modules, by its schema name or its Python spelling."""
    module = find_module(schema, module_name)
    if module is None:
        return None
    for candidate in (verb_name, lower_camel(verb_name)):
        decl = module.decl(candidate)
        if isinstance(decl, ast.Verb):
            return module, decl
    return None


def decl_groups(module: ast.Module) -> list[tuple[str, str, list[ast.Decl]]]:
    """(kind, heading, declarations by name) for each kind the module declares."""
    groups = []
    for kind, heading in DECL_GROUPS:
        decls = sorted((d for d in module.decls if d.kind == kind), key=lambda d: d.name)
        if decls:
            groups.append((kind, heading, decls))
    return groups


def ref_linker(schema: ast.Schema) -> LinkRef:
    """Links for `module.Name` references: verbs to their page, other declarations to their module."""
    modules = {m.name: m for m in own_modules(schema)}

    def link(text: str) -> str | None:
        name, _, realm = text.partition("@")
        if realm:
            return f"/realms#realm-{realm}"
        module_name, _, decl_name = name.partition(".")
        module = modules.get(module_name)
        if module is None or "." in decl_name:
            return None
        decl = module.decl(decl_name)
        if isinstance(decl, ast.Verb):
            return f"/verbs/{module_name}/{decl_name}"
        if decl is not None:
            return f"/modules/{module_name}#decl-{decl_name}"
        return None

    return link


def highlighted_module(schema: ast.Schema, module: ast.Module) -> Markup:
    return highlight_schema(print_module(module), ref_linker(schema))


def highlighted_decl(schema: ast.Schema, decl: ast.Decl) -> Markup:
    return highlight_schema(print_decl(decl), ref_linker(schema))


def signature(decl: ast.Decl) -> str:
    """A one-line summary of a declaration: a verb's `(Req) Resp`, a data's field count, a type."""
    match decl:
        case ast.Verb():
            return f"({print_type(decl.request)}) {print_type(decl.response)}"
        case ast.Data():
            count = len(decl.fields)
            params = f"<{', '.join(p.name for p in decl.type_params)}> " if decl.type_params else ""
            return f"{params}{count} field{'s' if count != 1 else ''}"
        case ast.Enum():
            names = ", ".join(v.name for v in decl.variants[:6])
            more = ", …" if len(decl.variants) > 6 else ""
            return f"{names}{more}"
        case ast.TypeAlias() | ast.Config() | ast.Secret():
            return print_type(decl.type)
        case ast.Topic():
            return print_type(decl.event)
        case ast.Database():
            return decl.engine
    return ""


def visibility(decl: ast.Decl) -> str:
    level = ast.visibility_of(decl)
    return {ast.Visibility.MODULE: "export", ast.Visibility.REALM: "export realm"}.get(level, "")


def event_summary(event: TimelineEvent) -> str:
    """One line saying what happened: the message, else a call's request → response (shortened)."""
    text = event.message
    if not text and event.kind == "call":
        request = _compact(event.data.get("request"))
        response = _compact(event.data.get("response"))
        text = f"{request} → {response}" if response else request
    if len(text) > SUMMARY_CHARS:
        text = text[: SUMMARY_CHARS - 1] + "…"
    return text


def _compact(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def event_details(event: TimelineEvent) -> list[tuple[str, str]]:
    """(label, text) pairs for an event's expandable details: JSON indented, text as is, the rest last."""
    shown: list[tuple[str, str]] = [
        (key, pretty_json(event.data[key])) for key in _JSON_DETAILS if key in event.data
    ]
    shown += [(key, str(event.data[key])) for key in _TEXT_DETAILS if key in event.data]
    rest = {k: v for k, v in event.data.items() if k not in _JSON_DETAILS and k not in _TEXT_DETAILS}
    if rest:
        shown.append(("data", pretty_json(rest)))
    return shown


_JSON_DETAILS: Final[tuple[str, ...]] = (
    "request",
    "response",
    "error_kind",
    "caller",
    "method",
    "path",
    "status",
    "error",
)
# A failed call's `exception` (its type) and `where` (user code's `file:line`) come before its traceback.
_TEXT_DETAILS: Final[tuple[str, ...]] = ("exception", "where", "traceback", "stderr")


@dataclass(frozen=True, slots=True)
class RealmView:
    name: str
    git_repo: str  # with any credentials removed
    git_branch: str
    git_commit: str
    git_path: str
    realm: ast.Realm | None  # None: pinned but not loaded (fetch failed)

    @property
    def verbs(self) -> list[tuple[ast.Module, ast.Verb]]:
        if self.realm is None:
            return []
        return [(m, v) for m in self.realm.modules if not m.builtin for v in m.verbs()]


def realm_views(schema: ast.Schema, pins: Sequence[RealmPin]) -> list[RealmView]:
    """Every pinned realm and every external realm in the live schema, by name."""
    from ftl.realm.git import redact

    loaded = {r.name: r for r in schema.realms if r.external}
    by_name = {pin.name: pin for pin in pins}
    views = []
    for name in sorted(set(loaded) | set(by_name)):
        pin = by_name.get(name)
        views.append(
            RealmView(
                name=name,
                git_repo=redact(pin.git_repo) if pin else "",
                git_branch=pin.git_branch if pin else "",
                git_commit=pin.git_commit if pin else "",
                git_path=pin.git_path if pin else "",
                realm=loaded.get(name),
            )
        )
    return views
