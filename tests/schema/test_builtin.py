"""The builtin module (ftl/schema/builtin.py)."""

from __future__ import annotations

from ftl.schema import parse_module, print_module
from ftl.schema.builtin import BUILTINS, BUILTINS_SOURCE, builtin_module
from ftl.schema.validate import validate_module


def test_the_ast_is_the_upstream_text() -> None:
    assert parse_module(BUILTINS_SOURCE) == BUILTINS
    assert builtin_module() == BUILTINS


def test_it_prints_canonically_and_validates() -> None:
    assert parse_module(print_module(BUILTINS)) == BUILTINS
    assert validate_module(BUILTINS) == (BUILTINS, [])
