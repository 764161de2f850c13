"""Enums (validate/enums.py)."""

from __future__ import annotations

from validate_support import errors, realm, validated


def test_value_types_match_the_base_type() -> None:
    text = realm("""
    module m {
      enum I: Int { A = "A"  B = 1 }
      enum S: String { A = 1  B = "b" }
    }
    """)
    assert errors(text) == [
        '4:17: enum variant "A" of type Int cannot have a value of type "String"',
        '5:20: enum variant "A" of type String cannot have a value of type "Int"',
    ]


def test_the_base_type_may_be_an_alias() -> None:
    validated(
        realm("""
        module m {
          typealias State String
          enum E: m.State { Open = "open" }
          enum Empty: Int {}
        }
        """)
    )


def test_type_enums_need_variants_that_are_types() -> None:
    text = realm("""
    module m {
      enum Empty {}
      enum Mixed { X = "x"  Y Int }
    }
    """)
    assert errors(text) == [
        '4:3: enum "Empty" must have at least one variant',
        '5:16: type enum variant "X" value must be a type, was a String value',
    ]
