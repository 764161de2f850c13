"""The FTL schema language: parse, print, validate, and convert to and from JSON.

    text --parse_schema/parse_module--> ast --validate_schema/validate_module--> ast + diagnostics
    ast --print_schema/print_module--> canonical text        ast <--to_json/from_json--> JSON

`grammar.lark` is the grammar; `parser` drives it (with the state-aware `_lexer` and the AST
builder `_transform`); `printer` writes canonical text; `validate` holds the rules; `ast_json` is
the JSON form. `check_document`/`format_document` are what `ftl schema validate`/`fmt` run.
"""

from __future__ import annotations

from ftl.schema import ast
from ftl.schema._document import (
    check_document,
    decode_source,
    format_document,
    is_module_document,
    parse_document,
)
from ftl.schema.ast_json import from_json, to_json
from ftl.schema.parser import parse_module, parse_ref, parse_schema, parse_type
from ftl.schema.printer import print_decl, print_metadata, print_module, print_realm, print_schema, print_type
from ftl.schema.validate import validate_module, validate_schema

__all__ = [
    "ast",
    "check_document",
    "decode_source",
    "format_document",
    "from_json",
    "is_module_document",
    "parse_document",
    "parse_module",
    "parse_ref",
    "parse_schema",
    "parse_type",
    "print_decl",
    "print_metadata",
    "print_module",
    "print_realm",
    "print_schema",
    "print_type",
    "to_json",
    "validate_module",
    "validate_schema",
]
