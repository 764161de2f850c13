"""`+sql query` and `+transaction` datasource rules (validate/datasources.py)."""

from __future__ import annotations

from validate_support import errors, realm, validated


def test_datasource_rules() -> None:
    text = realm("""
    module a {
      database postgres db
      database mysql db2
      verb q(Int) Int
        +sql query one "SELECT 1"
      verb q2(Int) Int
        +database uses a.db, a.db2
        +sql query one "SELECT 1"
      verb tx(Unit) Unit
        +transaction
      verb tx2(Unit) Unit
        +database uses a.db
        +calls a.tx3
        +transaction
      verb tx3(Unit) Unit
        +database uses a.db
        +transaction
    }
    """)
    assert errors(text) == [
        "6:3: query verb must specify a corresponding datasource",
        "8:3: query verbs can only access a single datasource",
        "11:3: transaction verbs must access a datasource",
        "13:3: transaction verbs cannot inject nested transactions",
    ]


def test_databases_are_reached_through_calls_even_in_cycles() -> None:
    validated(
        realm("""
        module a {
          database postgres db
          verb insert(Int) Unit
            +database uses a.db
            +sql query exec "INSERT"
            +calls a.signup
          verb signup(Int) Unit
            +calls a.insert
            +transaction
        }
        """)
    )
