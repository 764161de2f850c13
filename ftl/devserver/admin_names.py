"""Verb and module names as a developer types them (`users.get_user` or `users.getUser`), resolved
against the schema's internal realms, with close names suggested when one is not found."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ftl.names import lower_camel
from ftl.schema import ast


@dataclass(frozen=True, slots=True)
class VerbNotFound:
    message: str
    suggestions: list[str]


def resolve_verb(schema: ast.Schema, text: str) -> tuple[str, ast.Verb] | VerbNotFound:
    """`users.get_user` or `users.getUser` → (module, verb) of the internal realm, or why not."""
    module_name, dot, verb_name = text.strip().partition(".")
    names = _verb_names(schema)
    if not dot or not module_name or not verb_name:
        return VerbNotFound(f"expected MODULE.VERB, got {text!r}", _suggest_for_part(text, names))
    for realm in schema.internal_realms():
        module = realm.module(module_name)
        if module is None:
            continue
        for candidate in (verb_name, lower_camel(verb_name)):
            decl = module.decl(candidate)
            if isinstance(decl, ast.Verb):
                return module.name, decl
    module_verbs = [name for name in names if name.split(".")[0] == module_name]
    if module_verbs:
        # The module is right: only its verbs are candidates, compared by verb name.
        suggestions = _suggest(lower_camel(verb_name), [name.split(".", 1)[1] for name in module_verbs])
        return VerbNotFound(
            f"module {module_name} has no verb {verb_name}", [f"{module_name}.{v}" for v in suggestions]
        )
    wanted = lower_camel(verb_name)
    same_verb = [name for name in names if name.split(".", 1)[1] == wanted]
    close_modules = _suggest(module_name, sorted({name.split(".")[0] for name in same_verb}))
    if close_modules:
        # Only the module is misspelled: the verb of that name in the modules it is close to.
        return VerbNotFound(f"unknown verb {text}", [f"{module}.{wanted}" for module in close_modules])
    return VerbNotFound(f"unknown verb {text}", _suggest(f"{module_name}.{wanted}", names))


def resolve_target(schema: ast.Schema, text: str) -> tuple[str, str | None] | VerbNotFound:
    """`users` or `users.get_user` (either spelling) → (module, schema verb name or None), or why not."""
    module_name, dot, _ = text.strip().partition(".")
    if dot:
        found = resolve_verb(schema, text)
        return found if isinstance(found, VerbNotFound) else (found[0], found[1].name)
    modules = _module_names(schema)
    if module_name in modules:
        return module_name, None
    return VerbNotFound(f"unknown module {module_name}", _suggest(module_name, modules))


def _module_names(schema: ast.Schema) -> list[str]:
    return [
        module.name for realm in schema.internal_realms() for module in realm.modules if not module.builtin
    ]


def _suggest_for_part(text: str, names: list[str]) -> list[str]:
    """For a bare name (`get_user`): the verbs of that name in any module, else close names."""
    wanted = lower_camel(text.strip(". ")).lower()
    same_verb = [name for name in names if name.split(".", 1)[1].lower() == wanted]
    return same_verb[:3] or _suggest(text, names)


def _verb_names(schema: ast.Schema) -> list[str]:
    return [
        f"{module.name}.{verb.name}"
        for realm in schema.internal_realms()
        for module in realm.modules
        if not module.builtin
        for verb in module.verbs()
    ]


def _suggest(text: str, names: list[str]) -> list[str]:
    by_lower = {name.lower(): name for name in names}
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[name] for name in close]
