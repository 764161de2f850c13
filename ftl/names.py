"""Name mapping between Python spellings and schema spellings.

Python code uses snake_case (`get_user`, `user_id`); the schema and the wire use lowerCamel
(`getUser`, `userId`). The mapping must be a clean two-way conversion, so extraction rejects names
that would not survive it (`user__id`, `_hidden`, `userID`).
"""

from __future__ import annotations

import keyword
import re

STUBS_PACKAGE = "ftl_modules"  # generated clients: `ftl_modules.<module>`, `ftl_modules.<realm>.<module>`

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

GO_KEYWORDS = frozenset(
    {
        *("break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for"),
        *("func", "go", "goto", "if", "import", "interface", "map", "package", "range", "return"),
        *("select", "struct", "switch", "type", "var"),
    }
)
PRIMITIVE_NAMES = frozenset({"Int", "Float", "String", "Bytes", "Bool", "Time", "Unit", "Any"})


def lower_camel(name: str) -> str:
    """`get_user` -> `getUser`; a name without underscores is returned unchanged."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    """`getUser` -> `get_user`, `getHTTPStatus` -> `get_http_status`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def python_name(schema_name: str) -> str:
    """The Python spelling of a schema field or verb name, as stubs write it.

    snake_case when that maps back to the same schema name, else the schema name itself; a
    trailing `_` when the result is a Python keyword.
    """
    snake = snake_case(schema_name)
    name = snake if lower_camel(snake) == schema_name else schema_name
    return f"{name}_" if keyword.iskeyword(name) or keyword.issoftkeyword(name) else name


def wire_name_problem(python_name: str) -> str | None:
    """Why a Python field or verb name cannot map to a schema name, or None if it can."""
    if _SNAKE.fullmatch(python_name) or _CAMEL.fullmatch(python_name):
        return None
    return (
        f"name {python_name!r} has no clean lowerCamel form: use snake_case "
        "(lowercase words joined by single underscores, like `user_id`)"
    )


def is_identifier(name: str) -> bool:
    return bool(_IDENT.fullmatch(name))


def module_name_problem(name: str) -> str | None:
    """Why `name` is not a valid module name (schema rules), or None."""
    if not is_identifier(name):
        return f"module name {name!r} is invalid: use letters, digits and underscores, starting with a letter"
    if name in GO_KEYWORDS:
        return f"module name {name!r} is a reserved word of the schema language: choose another name"
    if name == "builtin":
        return 'the "builtin" module is reserved'
    if keyword.iskeyword(name):
        return (
            f"module name {name!r} is a Python keyword: choose another name "
            f"(Python code could not import its client, `{STUBS_PACKAGE}.{name}`)"
        )
    return None
