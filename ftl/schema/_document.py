"""Schema files as the CLI sees them: bytes to text, realm or module mode, check and format.

A document holds realms (as `ftl schema get` prints them) or one bare `module` block (upstream's
module mode, validated on its own); the first word after any leading comments decides.
"""

from __future__ import annotations

import re

from ftl.errors import Diagnostic, FtlError, Position
from ftl.schema import ast
from ftl.schema.parser import parse_module, parse_schema
from ftl.schema.printer import print_module, print_schema
from ftl.schema.validate import validate_module, validate_schema

__all__ = ["check_document", "decode_source", "format_document", "is_module_document", "parse_document"]

_LEADING_TRIVIA = re.compile(r"(?:[ \t\n\r\f\v]+|//[^\n]*)*")
_MODULE_START = re.compile(r"(?:module|builtin)(?![A-Za-z0-9_])")
_BOM = "\ufeff"


def decode_source(data: bytes, filename: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped); an error at the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start]
        line_start = good.rfind(b"\n") + 1
        column = len(good[line_start:].decode("utf-8")) + 1
        position = Position(filename, good.count(b"\n") + 1, column)
        raise FtlError([Diagnostic(f"invalid UTF-8 (byte 0x{data[exc.start]:02x})", position)]) from None
    return text.removeprefix(_BOM)


def is_module_document(text: str) -> bool:
    """Whether the first word after leading whitespace and comments is `module` or `builtin`."""
    start = _LEADING_TRIVIA.match(text).end()  # type: ignore[union-attr]
    return _MODULE_START.match(text, start) is not None


def parse_document(text: str, filename: str = "") -> ast.Schema | ast.Module:
    """The document's realms, or its one module in module mode."""
    if is_module_document(text):
        return parse_module(text, filename)
    return parse_schema(text, filename)


def format_document(text: str, filename: str = "") -> str:
    """The canonical text of a document (raises FtlError if it does not parse)."""
    document = parse_document(text, filename)
    if isinstance(document, ast.Module):
        return print_module(document) + "\n"
    return print_schema(document)


def check_document(text: str, filename: str = "") -> list[Diagnostic]:
    """Every error in a document: the parse error, or all validation errors, sorted by position."""
    try:
        document = parse_document(text, filename)
    except FtlError as exc:
        return exc.diagnostics
    if isinstance(document, ast.Module):
        return validate_module(document)[1]
    return validate_schema(document)[1]
