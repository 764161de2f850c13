"""Names: module names (M1, M2, R2), declaration names (M3, M4, M10), and duplicates inside a
declaration (deliberate fixes of spec section 8.4: duplicate fields, type parameters and enum
variants are errors)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ftl.errors import Position
from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE
from ftl.schema.validate._context import Report, line_col

__all__ = ["check_declaration_names", "check_module_names"]

_TOPIC_NAME = re.compile(r"[a-z][A-Za-z0-9_]*")
_GO_KEYWORDS = frozenset(
    (
        *("break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough"),
        *("for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range"),
        *("return", "select", "struct", "switch", "type", "var"),
    )
)
_TOPIC_NAME_ERROR = (
    "invalid name: must consist of only letters, numbers and underscores, and start with a lowercase letter."
)


def check_module_names(modules: Iterable[ast.Module], report: Report) -> None:
    """Every module name valid and unique; `builtin` only on the builtin module."""
    first: dict[str, ast.Module] = {}
    for module in modules:
        if not _is_identifier(module.name) or module.name in _GO_KEYWORDS:
            report.error(f'module name "{module.name}" is invalid', module.pos)
        if module.builtin and module.name != BUILTIN_MODULE:
            report.error('the "builtin" module is reserved', module.pos)
        earlier = first.get(module.name)
        if earlier is None:
            first[module.name] = module
        else:
            report.error(f'duplicate declaration of "{module.name}" at {line_col(earlier.pos)}', module.pos)
            report.error(f'duplicate module "{module.name}"', module.pos)


def check_declaration_names(module: ast.Module, report: Report) -> None:
    first: dict[tuple[str, str], ast.Decl] = {}
    for decl in module.decls:
        name, kind = decl.name, decl.kind
        if name in ast.PRIMITIVE_NAMES:
            report.error(f'{kind} name "{name}" is a reserved word', decl.pos)
        elif not _is_identifier(name):
            report.error(f'{kind} name "{name}" is invalid', decl.pos)
        elif isinstance(decl, ast.Topic) and not _TOPIC_NAME.fullmatch(name):
            report.error(_TOPIC_NAME_ERROR, decl.pos)
        earlier = first.get((kind, name))
        if earlier is None:
            first[(kind, name)] = decl
        else:
            report.error(f'duplicate {kind} "{name}", first defined at {line_col(earlier.pos)}', decl.pos)
        if isinstance(decl, ast.Data):
            _unique("type parameter", decl.name, ((p.name, p.pos) for p in decl.type_params), report)
            _unique("field", decl.name, ((f.name, f.pos) for f in decl.fields), report)
        elif isinstance(decl, ast.Enum):
            _unique("variant", decl.name, ((v.name, v.pos) for v in decl.variants), report)


def _unique(what: str, owner: str, named: Iterable[tuple[str, Position]], report: Report) -> None:
    seen: dict[str, Position] = {}
    for name, pos in named:
        earlier = seen.get(name)
        if earlier is None:
            seen[name] = pos
        else:
            report.error(f'duplicate {what} "{name}" in "{owner}", first defined at {line_col(earlier)}', pos)


def _is_identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier()  # ASCII identifiers are exactly [A-Za-z_][A-Za-z0-9_]*
