"""Helpers for the validator tests: schema text in, `line:col: message` strings out."""

from __future__ import annotations

import textwrap

from ftl.schema import ast, parse_module, parse_schema
from ftl.schema.validate import validate_module, validate_schema


def validated(text: str) -> ast.Schema:
    """The normalised schema of a document that must be valid."""
    schema, diagnostics = validate_schema(parse_schema(textwrap.dedent(text)))
    assert diagnostics == [], [str(d) for d in diagnostics]
    return schema


def errors(text: str) -> list[str]:
    """Every validation error of a realm document, as `line:col: message` (sorted by position)."""
    _, diagnostics = validate_schema(parse_schema(textwrap.dedent(text)))
    return [str(d) for d in diagnostics]


def messages(text: str) -> list[str]:
    """The messages alone, for rules where the position is not the point."""
    _, diagnostics = validate_schema(parse_schema(textwrap.dedent(text)))
    return [d.message for d in diagnostics]


def module_errors(text: str) -> list[str]:
    _, diagnostics = validate_module(parse_module(textwrap.dedent(text)))
    return [str(d) for d in diagnostics]


def realm(body: str) -> str:
    """`body` (module text) wrapped in `realm r { ... }`, keeping its line numbers + 1."""
    return "realm r {\n" + textwrap.dedent(body) + "}\n"
