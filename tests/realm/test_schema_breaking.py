"""Schema-level breaking changes (`ftl.schema.breaking.schema_changes`); the type-level rules are
covered by tests/conformance/test_breaking_conformance.py."""

from __future__ import annotations

from ftl.schema import parse_schema
from ftl.schema.breaking import breaking_changes, schema_changes

BASE = """realm bank {
  module balance {
    config limit Int
    export realm enum Currency: String {
      Eur = "eur"
      Usd = "usd"
    }
    export realm data Request {
      amount Int
      note String?
      nested balance.Inner
    }
    export realm data Inner {
      x Int
    }
    export realm data Receipt {
      id String
    }
    export realm typealias Id String
    export realm verb withdraw(balance.Request) balance.Receipt
    export realm verb status(Unit) balance.Receipt
  }
}
"""


def _changes(new: str, old: str = BASE) -> list[tuple[str, bool]]:
    return [(str(c), c.breaking) for c in schema_changes(parse_schema(old), parse_schema(new))]


def test_identical_schemas_have_no_changes() -> None:
    assert _changes(BASE) == []


def test_removed_declaration() -> None:
    new = BASE.replace("    export realm verb status(Unit) balance.Receipt\n", "")
    assert _changes(new) == [("balance.status: verb removed", True)]


def test_removed_and_retyped_fields() -> None:
    new = BASE.replace("      id String\n", "      code Int\n").replace("      x Int\n", "      x String\n")
    assert _changes(new) == [
        ("balance.Inner: x: type changed from int to string", True),
        ("balance.Receipt: field id removed", True),
        ("balance.Receipt: required field code added", False),
    ]


def test_required_field_added_to_a_request_type_even_when_nested() -> None:
    new = BASE.replace("      x Int\n", "      x Int\n      y Int\n      z Int?\n")
    assert _changes(new) == [
        ("balance.Inner: optional field z added", False),
        ("balance.Inner: required field y added to a request type", True),
    ]


def test_changed_verb_signature() -> None:
    new = BASE.replace("verb status(Unit) balance.Receipt", "verb status(balance.Id) [balance.Receipt]")
    assert _changes(new) == [
        ("balance.status: request: type changed from unit to ref", True),
        ("balance.status: response: type changed from ref to array", True),
    ]
    swapped = BASE.replace("verb withdraw(balance.Request)", "verb withdraw(balance.Inner)")
    assert _changes(swapped) == [
        ("balance.withdraw: request: type changed from balance.Request to balance.Inner", True),
    ]


def test_enum_variants() -> None:
    new = BASE.replace('      Usd = "usd"\n', '      Gbp = "gbp"\n').replace('Eur = "eur"', 'Eur = "euro"')
    assert _changes(new) == [
        ('balance.Currency: enum variant Eur changed from "eur" to "euro"', True),
        ("balance.Currency: enum variant Gbp added", True),
        ("balance.Currency: enum variant Usd removed", True),
    ]


def test_visibility() -> None:
    narrowed = BASE.replace("export realm typealias Id", "export typealias Id")
    assert _changes(narrowed) == [("balance.Id: visibility narrowed from export realm to export", True)]
    widened = BASE.replace("export realm data Inner", "data Inner").replace(
        "export realm data Receipt", "data Receipt"
    )
    assert _changes(BASE, old=widened) == [
        ("balance.Inner: visibility widened from private to export realm", False),
        ("balance.Receipt: visibility widened from private to export realm", False),
    ]


def test_change_of_kind_and_type_parameters() -> None:
    new = BASE.replace("export realm typealias Id String", "export realm data Id {\n    }").replace(
        "export realm data Inner {", "export realm data Inner<T> {"
    )
    assert _changes(new) == [
        ("balance.Id: type changed from type alias to data", True),
        ("balance.Inner: type parameters changed from <> to <T>", True),
    ]


def test_non_breaking_changes_are_listed_too() -> None:
    new = BASE.replace("    config limit Int\n", "").replace(
        "    export realm data Inner {", "    // Documented now.\n    export realm data Inner {"
    ) + BASE.replace("realm bank", "realm other").replace("module balance", "module extra")
    old = BASE + BASE.replace("realm bank", "realm other").replace("module balance", "module extra")
    assert _changes(new, old=old) == [
        ("balance.Inner: comments changed", False),
        ("balance.limit: config removed", False),
    ]


def test_added_and_removed_modules() -> None:
    new = BASE.replace("module balance", "module ledger")
    changes = _changes(new)
    assert ("balance.withdraw: verb removed", True) in changes
    assert ("ledger.withdraw: verb added", False) in changes


def test_breaking_changes_filters() -> None:
    new = BASE.replace("      note String?\n", "")
    assert [str(c) for c in breaking_changes(parse_schema(BASE), parse_schema(new))] == [
        "balance.Request: field note removed"
    ]
