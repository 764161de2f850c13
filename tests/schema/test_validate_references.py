"""Reference resolution and qualification (validate/references.py, validate/realms.py)."""

from __future__ import annotations

from validate_support import errors, messages, module_errors, realm, validated

from ftl.schema import ast


def _decl(schema: ast.Schema, module: str, name: str) -> ast.Decl:
    found = schema.realms[0].module(module)
    assert found is not None
    decl = found.decl(name)
    assert decl is not None
    return decl


def test_bare_refs_are_qualified_local_then_builtin() -> None:
    schema = validated(
        realm("""
        module m {
          data Empty {}
          data D { e Empty  own m.Empty  next D? }
          verb v(D) HttpResponse<D, String>
        }
        """)
    )
    data = _decl(schema, "m", "D")
    assert isinstance(data, ast.Data)
    assert [f.type for f in data.fields] == [
        ast.Ref("builtin", "Empty"),  # a builtin shadows a local declaration of the same name
        ast.Ref("m", "Empty"),
        ast.Optional(ast.Ref("m", "D")),
    ]
    verb = _decl(schema, "m", "v")
    assert isinstance(verb, ast.Verb)
    assert verb.request == ast.Ref("m", "D")
    assert verb.response == ast.Ref("builtin", "HttpResponse", (ast.Ref("m", "D"), ast.String()))


def test_type_parameters_stay_bare() -> None:
    schema = validated(realm("module m { data G<T> { value T  list [T] } }"))
    data = _decl(schema, "m", "G")
    assert isinstance(data, ast.Data)
    assert data.fields[0].type == ast.Ref("", "T")


def test_qualified_positions_are_kept() -> None:
    schema = validated(realm("module m {\n  data D { a D }\n}\n"))
    data = _decl(schema, "m", "D")
    assert isinstance(data, ast.Data)
    assert (data.fields[0].type.pos.line, data.fields[0].type.pos.column) == (3, 14)


def test_unknown_references_are_reported_where_written() -> None:
    assert errors("realm foo { module test { verb test(InvalidRequest) other.Thing } }") == [
        '1:37: unknown reference "InvalidRequest", is the type annotated and exported?',
        '1:53: unknown reference "other.Thing", is the type annotated and exported?',
    ]


def test_a_module_name_is_not_a_type() -> None:
    assert messages(realm("module m { data D { a m } }")) == [
        'invalid reference "m": "m" is a module, not a declaration'
    ]


def test_other_modules_declarations_must_be_exported() -> None:
    text = realm("""
    module a { data D {}  verb v(Unit) Unit  config c String }
    module b {
      verb x(a.D) Unit
        +calls a.v
        +config a.c
    }
    """)
    assert errors(text) == [
        '5:10: data "a.D" must be exported',
        '6:12: verb "a.v" must be exported',
        '7:13: config "a.c" must be exported',
    ]


def test_type_argument_counts() -> None:
    text = realm("""
    module m {
      data G<T> { v T }
      enum E { A String }
      data D { a m.G  b m.G<Int, Int>  c m.E<Int>  d T<Int> }
    }
    """)
    assert messages(text) == [
        "reference to data structure G has 0 type parameters, but 1 were expected",
        "reference to data structure G has 2 type parameters, but 1 were expected",
        'reference to enum "E" cannot have type parameters',
        'unknown reference "T<Int>", is the type annotated and exported?',
    ]


def test_refs_must_name_the_kind_their_place_expects() -> None:
    text = realm("""
    module m {
      config c String
      data D { v m.v }
      verb v(Unit) Unit
        +calls m.D
        +config m.v
    }
    """)
    assert messages(text) == [
        'verb "m.v" is not a type',
        'expected verb, got data "m.D"',
        'expected config, got verb "m.v"',
    ]


def test_kinds_sharing_a_name_resolve_by_place() -> None:
    validated(
        realm("""
        module m {
          config x String
          secret x String
          data x {}
          verb x(m.x) Unit
            +config m.x
            +secrets m.x
            +calls m.x
        }
        """)
    )


def test_module_mode_resolves_locally_and_ignores_other_modules() -> None:
    assert module_errors("module one { data D { a two.Missing  b one.D  c Empty  d builtin.Empty } }") == []


def test_module_mode_reports_an_unknown_reference_qualified_with_its_own_module() -> None:
    # `one.Missing` and `builtin.Nope` can only mean declarations this document holds.
    text = """\
module one {
  data A { x one.Nope  y builtin.Nope  z two.Other }
  verb v(one.A) one.B
}
"""
    assert module_errors(text) == [
        '2:14: unknown reference "one.Nope", is the type annotated and exported?',
        '2:26: unknown reference "builtin.Nope", is the type annotated and exported?',
        '3:17: unknown reference "one.B", is the type annotated and exported?',
    ]


def test_module_mode_reports_an_unknown_bare_reference() -> None:
    # A bare name can only be a type parameter, a builtin or the module's own declaration.
    text = """\
module one {
  data D<T> { a Strin  b T  c Empty  d E }
  data E {}
  verb v(Requst) Unit
    +calls nope
}
"""
    assert module_errors(text) == [
        '2:17: unknown reference "Strin", is the type annotated and exported?',
        '4:10: unknown reference "Requst", is the type annotated and exported?',
        '5:12: unknown reference "nope", is the type annotated and exported?',
    ]


def test_realm_references() -> None:
    text = """\
external realm bank {
  module ledger {
    export realm data Receipt { id String }
    export data Internal {}
  }
}
realm shop {
  module orders {
    verb pay(ledger.Receipt@bank) ledger.Internal@bank
    verb other(ledger.Receipt@nowhere) ledger.Receipt@shop
    verb missing(ledger.Nope@bank) Unit
  }
}
"""
    assert errors(text) == [
        '9:35: data "ledger.Internal" is not exported to other realms '
        '(it is not "export realm" in realm "bank")',
        '10:16: unknown realm "nowhere"',
        '10:40: unknown realm "shop": only an external realm can be referenced with @',
        '11:18: unknown reference "ledger.Nope@bank", is the type annotated and exported?',
    ]


def test_realm_references_are_not_module_dependencies() -> None:
    validated("""\
external realm bank { module shop { export realm verb pay(Unit) Unit } }
realm shop { module shop { verb buy(Unit) Unit +calls shop.pay@bank } }
""")
