"""Example request JSON for the verb form, and that it passes the admin API's own validation."""

from __future__ import annotations

from ftl.devserver.console.samples import SAMPLE_TIME, sample_json, sample_request
from ftl.schema import ast, parse_schema, parse_type, validate_schema
from ftl.schema.jsonvalidate import validate_json

from .schemas import shop_schema

KINDS = """
realm r {
  module m {
    export data Box<T> {
      item T
      items [T]
      label String?
    }

    export data Every {
      i Int
      f Float
      s String
      b Bool
      t Time
      raw Bytes
      u Unit
      anything Any
      tags {String: Int}
      boxed m.Box<m.Color>
      shape m.Shape
      alias m.Name
      tree m.Tree
    }

    export enum Color: Int {
      Red = 1
      Blue = 2
    }

    export enum Shape {
      Circle m.Every
      Dot Unit
    }

    export typealias Name String

    export data Tree {
      children [m.Tree]
    }

    export verb v(m.Every) Unit
  }
}
"""


def test_each_kind_of_type_gets_a_value() -> None:
    schema, problems = validate_schema(parse_schema(KINDS))
    assert not problems
    value = sample_json(parse_type("m.Every"), schema, module="m")
    assert value == {
        "i": 0,
        "f": 0.0,
        "s": "",
        "b": False,
        "t": SAMPLE_TIME,
        "raw": "",
        "u": {},
        "anything": None,
        "tags": {},
        "boxed": {"item": 1, "items": [1]},
        # A sum type's first variant refers back to Every: the repeat stops at null.
        "shape": {"name": "Circle", "value": None},
        "alias": "",
        "tree": {"children": []},
    }


def test_samples_for_the_shop_verbs_validate() -> None:
    schema = shop_schema()
    realm = schema.realm("shop")
    assert realm is not None
    for module in realm.modules:
        for verb in module.verbs():
            value = sample_json(verb.request, schema, module=module.name)
            assert validate_json(value, verb.request, schema) == [], f"{module.name}.{verb.name}: {value}"


def test_external_realm_types_resolve_in_their_realm() -> None:
    value = sample_json(ast.Ref("bank", "Transfer", realm="bank"), shop_schema())
    assert value == {"amount": 0}


def test_unknown_references_are_null() -> None:
    assert sample_json(ast.Ref("nope", "Nothing"), shop_schema()) is None


def test_an_ingress_verb_request_carries_its_route() -> None:
    schema, problems = validate_schema(
        parse_schema(
            """
            realm r {
              module web {
                export data Id {
                  id Int
                }

                export verb get(builtin.HttpRequest<Unit, web.Id, Unit>) builtin.HttpResponse<web.Id, String>
                  +ingress http GET /items/{id}
              }
            }
            """
        )
    )
    assert not problems
    module = schema.realms[0].module("web")
    assert module is not None
    verb = next(module.verbs())
    value = sample_request(verb, schema, module="web")
    assert value == {
        "method": "GET",
        "path": "/items/{id}",
        "pathParameters": {"id": 0},
        "query": {},
        "headers": {},
        "body": {},
    }
    assert validate_json(value, verb.request, schema) == []
