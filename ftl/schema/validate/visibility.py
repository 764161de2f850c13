"""Visibility propagation (R16): an exported declaration may not expose a less visible one.

Data (field types), type aliases (the aliased type) and verbs (request and response) are checked,
down to the first declaration on each path and through type arguments. As upstream, a verb is
checked only when it has metadata, and enum variants and topic events are not checked. Builtins
count as `export realm` (this project's decision: `export realm` declarations may use them).
"""

from __future__ import annotations

from collections.abc import Iterable

from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE
from ftl.schema.validate._context import RealmIndex, Report

__all__ = ["check_visibility"]

_LABELS = {ast.Visibility.MODULE: "export", ast.Visibility.REALM: "export realm"}


def check_visibility(modules: Iterable[ast.Module], index: RealmIndex, report: Report) -> None:
    for module in modules:
        for decl in module.decls:
            types: tuple[ast.Type, ...]
            if isinstance(decl, ast.Data):
                types = tuple(field.type for field in decl.fields)
            elif isinstance(decl, ast.TypeAlias):
                types = (decl.type,)
            elif isinstance(decl, ast.Verb) and decl.metadata:
                types = (decl.request, decl.response)
            else:
                continue
            if decl.visibility == ast.Visibility.NONE:
                continue
            due_to = f"{module.name}.{decl.name}"
            for type_ in types:
                _check_type(type_, decl.visibility, due_to, index, report)


def _check_type(
    type_: ast.Type, required: ast.Visibility, due_to: str, index: RealmIndex, report: Report
) -> None:
    if type(type_) in ast.PRIMITIVE_TYPES:
        return
    if isinstance(type_, ast.Ref):
        if type_.module and not type_.realm and type_.module != BUILTIN_MODULE:
            decl = index.resolve(type_)
            if decl is not None and ast.visibility_of(decl) < required:
                report.error(
                    f'{decl.kind} "{decl.name}" must have visibility of "{_LABELS[required]}" '
                    f"due to {due_to}",
                    decl.pos,
                    type_.pos,
                )
        for arg in type_.type_args:
            _check_type(arg, required, due_to, index, report)
    elif isinstance(type_, ast.Optional):
        _check_type(type_.type, required, due_to, index, report)
    elif isinstance(type_, ast.Array):
        _check_type(type_.element, required, due_to, index, report)
    elif isinstance(type_, ast.Map):
        _check_type(type_.key, required, due_to, index, report)
        _check_type(type_.value, required, due_to, index, report)
