"""The normalised schema (validate/normalise.py and validate/__init__.py)."""

from __future__ import annotations

from validate_support import realm, validated

from ftl.schema import ast, parse_module
from ftl.schema.builtin import BUILTINS
from ftl.schema.validate import validate_module, validate_schema


def test_builtins_come_first_and_replace_a_user_builtin_module() -> None:
    schema = validated(
        "realm r { module a {}  module builtin { data X {} } }\nexternal realm e { module z {} }"
    )
    assert [[m.name for m in r.modules] for r in schema.realms] == [["builtin", "a"], ["builtin", "z"]]
    assert schema.realms[0].modules[0] == BUILTINS


def test_declarations_are_sorted_by_kind_then_name() -> None:
    schema = validated(
        realm("""
        module m {
          verb b(Unit) Unit
          verb a(Unit) Unit
          data D {}
          enum E { A Int }
          typealias T Int
          topic t Int
          database postgres db
          secret s String
          config c String
        }
        """)
    )
    module = schema.realms[0].module("m")
    assert module is not None
    assert [(d.kind, d.name) for d in module.decls] == [
        ("config", "c"),
        ("secret", "s"),
        ("database", "db"),
        ("topic", "t"),
        ("typealias", "T"),
        ("enum", "E"),
        ("data", "D"),
        ("verb", "a"),
        ("verb", "b"),
    ]


def test_verb_metadata_and_ref_lists_are_sorted() -> None:
    schema = validated(
        realm(
            """
        module m {
          config z String
          config a String
          verb w(Unit) Unit
          verb v(Unit) Unit
            +egress "b", "a"
            +config m.z, m.a
            +calls m.w, m.v
            +ingress http GET /x
        }
        """.replace(
                "verb v(Unit) Unit",
                "verb v(builtin.HttpRequest<Unit, Unit, Unit>) builtin.HttpResponse<Unit, Unit>",
            )
        )
    )
    module = schema.realms[0].module("m")
    assert module is not None
    verb = module.decl("v")
    assert isinstance(verb, ast.Verb)
    assert [md.kind for md in verb.metadata] == ["ingress", "calls", "config", "egress"]
    calls, config, egress = verb.metadata[1:]
    assert isinstance(calls, ast.MetadataCalls) and [r.name for r in calls.calls] == ["v", "w"]
    assert isinstance(config, ast.MetadataConfig) and [r.name for r in config.config] == ["a", "z"]
    assert isinstance(egress, ast.MetadataEgress) and egress.targets == ("a", "b")


def test_module_mode_normalises_too() -> None:
    module, diagnostics = validate_module(parse_module("module m {\n  verb v(D) Empty\n  data D {}\n}\n"))
    assert diagnostics == []
    assert [d.name for d in module.decls] == ["D", "v"]
    verb = module.decl("v")
    assert isinstance(verb, ast.Verb)
    assert (verb.request, verb.response) == (ast.Ref("m", "D"), ast.Ref("builtin", "Empty"))


def test_an_empty_schema_is_valid() -> None:
    assert validate_schema(ast.Schema()) == (ast.Schema(), [])
