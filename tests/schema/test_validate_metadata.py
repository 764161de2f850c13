"""Where metadata may appear (validate/metadata.py)."""

from __future__ import annotations

from validate_support import errors, messages, realm, validated


def test_not_on_data_structures() -> None:
    assert errors("realm foo { module test { data Data {+calls verb} } }") == [
        '1:38: metadata "+calls verb" is not valid on data structures',
        '1:45: unknown reference "verb", is the type annotated and exported?',
    ]


def test_fields_take_only_alias_and_sql_column() -> None:
    text = realm("""
    module m {
      data D {
        a Int +alias json "x" +sql column t.a +generated
      }
    }
    """)
    assert errors(text) == ['5:43: metadata "+generated" is not valid on fields']


def test_type_aliases_take_only_typemap() -> None:
    text = realm("""
    module m {
      typealias T String
        +typemap go "x.T"
        +generated
    }
    """)
    assert errors(text) == ['6:5: metadata "+generated" is not valid on type aliases']


def test_databases_take_one_migration() -> None:
    digest = "sha256:" + "a" * 64
    text = realm(f"""
    module m {{
      database postgres db
        +migration {digest}
        +migration {digest}
        +generated
    }}
    """)
    assert errors(text) == [
        '6:5: database "db" has multiple migration metadata',
        '7:5: metadata "+generated" is not valid on databases',
    ]


def test_verbs_take_one_of_each_kind() -> None:
    text = realm("""
    module m {
      topic t Int
      verb v(Int) Unit
        +cron 5m
        +cron 1h
        +subscribe m.t from=beginning
        +subscribe m.t from=latest
        +sql column t.c
    }
    """)
    assert "verb can not have multiple instances of cronjob" in messages(text)
    assert "verb can not subscribe to multiple topics" in messages(text)
    assert 'metadata "+sql column t.c" is not valid on verbs' in messages(text)


def test_module_and_topic_metadata_is_free() -> None:
    validated(
        realm("""
        module m {
          +git "https://example.com/repo" "abc" dirty
          +generated
          topic t Int
            +partitions 3
            +generated
        }
        """)
    )
