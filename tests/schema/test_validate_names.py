"""Names and duplicates (validate/names.py, validate/realms.py)."""

from __future__ import annotations

from validate_support import errors, module_errors, realm, validated


def test_module_names() -> None:
    text = realm("""
    module map {}
    builtin module foo {}
    module ok {}
    module ok {}
    """)
    assert errors(text) == [
        '3:1: module name "map" is invalid',
        '4:1: the "builtin" module is reserved',
        '6:1: duplicate declaration of "ok" at 5:1',
        '6:1: duplicate module "ok"',
    ]


def test_duplicate_realms() -> None:
    assert errors("realm r {}\nrealm r {}\n") == ['2:1: duplicate realm "r"']


def test_declaration_names() -> None:
    text = realm("""
    module m {
      data String {}
      topic Events m.Ev
      export data Ev {}
    }
    """)
    assert errors(text) == [
        '4:3: data name "String" is a reserved word',
        "5:3: invalid name: must consist of only letters, numbers and underscores, "
        "and start with a lowercase letter.",
    ]


def test_duplicates_of_one_kind_only() -> None:
    text = realm("""
    module m {
      config x String
      config x Int
      secret x String
      data x {}
      verb x(Unit) Unit
    }
    """)
    assert errors(text) == ['5:3: duplicate config "x", first defined at 4:3']


def test_duplicate_fields_type_parameters_and_variants() -> None:
    text = realm("""
    module m {
      data D<T, T> {
        a Int
        a String
      }
      enum E {
        A Int
        A String
      }
    }
    """)
    assert errors(text) == [
        '4:13: duplicate type parameter "T" in "D", first defined at 4:10',
        '6:5: duplicate field "a" in "D", first defined at 5:5',
        '10:5: duplicate variant "A" in "E", first defined at 9:5',
    ]


def test_contextual_keywords_are_fine_names() -> None:
    validated("""
    realm realm { module module {
      data data { data String  export Int  realm Bool }
      verb verb(module.data) Unit
      enum enum { enum String }
      typealias typealias Int
      config config Int
      secret secret Int
      topic topic module.data
      database postgres database
    } }
    """)


def test_module_mode_checks_its_own_names() -> None:
    assert module_errors("module map {\n  data Int {}\n}\n") == [
        '1:1: module name "map" is invalid',
        '2:3: data name "Int" is a reserved word',
    ]
