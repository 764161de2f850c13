"""Visibility propagation (validate/visibility.py)."""

from __future__ import annotations

from validate_support import errors, realm, validated


def test_exported_declarations_may_not_expose_less_visible_ones() -> None:
    text = realm("""
    module parent {
      export data One { field Unit }
      data Hidden {}
    }
    module child {
      export realm data Data {
        one parent.One
        list [child.Generic<child.Private>]?
      }
      export realm data Generic<T> { value T }
      data Private {}
      enum PrivateEnum: String { Value = "private" }
      export typealias Alias child.PrivateEnum
    }
    """)
    assert errors(text) == [
        '4:3: data "One" must have visibility of "export realm" due to child.Data',
        '13:3: data "Private" must have visibility of "export realm" due to child.Data',
        '14:3: enum "PrivateEnum" must have visibility of "export" due to child.Alias',
    ]


def test_builtins_may_be_used_by_export_realm_declarations() -> None:
    validated(
        realm("module a { export realm data Req { body builtin.Empty  page HttpRequest<Unit, Unit, Unit> } }")
    )


def test_verbs_are_checked_only_with_metadata_as_upstream() -> None:
    validated(realm("module m { data D {}  export verb v(m.D) Unit }"))
    text = realm("module m { data D {}  verb w(Unit) Unit  export verb v(m.D) Unit +calls m.w }")
    assert errors(text) == ['2:12: data "D" must have visibility of "export" due to m.v']


def test_enum_variants_and_topic_events_are_not_checked() -> None:
    validated(
        realm("""
        module m {
          data D {}
          export topic t m.D
          export enum E { A m.D }
        }
        """)
    )
