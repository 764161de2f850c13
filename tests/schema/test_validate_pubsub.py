"""Subscriptions and dead-letter topics (validate/pubsub.py)."""

from __future__ import annotations

from validate_support import errors, messages, realm, validated

from ftl.schema import ast, parse_schema, print_schema
from ftl.schema.validate import validate_schema


def test_subscriber_request_matches_the_event_and_is_a_sink() -> None:
    text = realm("""
    module m {
      data A {}
      data B {}
      topic t m.A
      verb wrong(m.B) Unit
        +subscribe m.t from=beginning
      verb source(m.A) m.B
        +subscribe t from=latest
      verb notTopic(m.A) Unit
        +subscribe m.A from=latest
    }
    """)
    assert errors(text) == [
        "8:5: verb wrong: request type m.B differs from subscription's event type m.A",
        "10:5: verb source: must be a sink to subscribe but found response type m.B",
        '12:5: verb notTopic: expected topic but found data for "m.A"',
    ]


def test_topics_of_other_modules_must_be_exported() -> None:
    text = realm("""
    module a { data E {}  topic t a.E }
    module b { verb s(a.E) Unit +subscribe a.t from=beginning }
    """)
    assert messages(text) == ['data "a.E" must be exported', 'topic "a.t" must be exported']


def test_dead_letter_topics_are_added_once() -> None:
    schema = validated(
        realm("""
        module m {
          export data E {}
          export topic t m.E
          verb consume(m.E) Unit
            +subscribe m.t from=beginning deadletter
        }
        """)
    )
    module = schema.realms[0].module("m")
    assert module is not None
    topic = module.decl("consumeFailed")
    assert topic == ast.Topic("consumeFailed", ast.Ref("builtin", "FailedEvent", (ast.Ref("m", "E"),)))
    verb = module.decl("consume")
    assert isinstance(verb, ast.Verb)
    assert ast.MetadataPublisher(topics=(ast.Ref("m", "consumeFailed"),)) in verb.metadata
    again, diagnostics = validate_schema(parse_schema(print_schema(schema)))
    assert diagnostics == []
    assert again == schema


def test_declared_dead_letter_topics_are_checked() -> None:
    text = realm("""
    module m {
      data A {}
      data B {}
      topic t m.A
      topic wrongFailed builtin.FailedEvent<m.B>
      verb wrong(m.A) Unit
        +subscribe m.t from=beginning deadletter
      data clashFailed {}
      verb clash(m.A) Unit
        +subscribe m.t from=beginning deadletter
    }
    """)
    assert errors(text) == [
        "9:5: dead letter topic m.wrongFailed must have the same event type (builtin.FailedEvent<m.B>) "
        "as the subscription request type (builtin.FailedEvent<m.A>)",
        "12:5: expected m.clashFailed to be a dead letter topic but was already declared at 10:3",
    ]
