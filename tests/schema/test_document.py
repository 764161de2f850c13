"""`ftl.schema._document`: what `ftl schema validate` / `fmt` do with a file's bytes and text."""

from __future__ import annotations

import pytest

from ftl.errors import FtlError, Position
from ftl.schema import ast, check_document, decode_source, format_document, is_module_document, parse_document


def test_decode_source_drops_a_byte_order_mark() -> None:
    assert decode_source("\ufeffrealm r {}".encode(), "f.ftl") == "realm r {}"


def test_decode_source_reports_the_first_bad_byte() -> None:
    with pytest.raises(FtlError) as caught:
        decode_source("realm r {\n  // é".encode() + b"\xff", "f.ftl")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos == Position("f.ftl", 2, 7)
    assert "invalid UTF-8" in diagnostic.message


@pytest.mark.parametrize(
    ("text", "module_mode"),
    [
        ("module m {}", True),
        ("// doc\n\n// more\nbuiltin module builtin {}", True),
        ("realm r {}", False),
        ("", False),
        ("modules {}", False),
        ("// module\nrealm r {}", False),
    ],
)
def test_module_mode_is_decided_by_the_first_word(text: str, module_mode: bool) -> None:
    assert is_module_document(text) is module_mode
    try:
        document = parse_document(text)
    except FtlError:
        return
    assert isinstance(document, ast.Module if module_mode else ast.Schema)


def test_format_document_keeps_the_mode() -> None:
    assert format_document("module m { config c Int }") == "module m {\n  config c Int\n}\n"
    assert format_document("realm r {}") == "realm r {}\n"
    assert format_document("") == ""


def test_check_document_gives_the_parse_error_or_every_validation_error() -> None:
    [parse_error] = check_document("realm r { module m { data D { a [Int?] } } }", "f.ftl")
    assert parse_error.pos == Position("f.ftl", 1, 37)
    errors = check_document("module m {\n  data Int {}\n  data String {}\n}", "f.ftl")
    assert [(d.pos.line, d.pos.column) for d in errors if d.pos] == [(2, 3), (3, 3)]
    assert check_document("module m {\n  verb v(Unit) Unit\n}") == []
