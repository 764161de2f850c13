"""`ftl.schema.ast_json`: the JSON form round-trips exactly, positions included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftl.errors import FtlError, Position
from ftl.schema import ast, from_json, parse_module, parse_schema, to_json


def _same_with_positions(a: ast.Node, b: ast.Node) -> bool:
    nodes_a, nodes_b = list(ast.walk(a)), list(ast.walk(b))
    return (
        a == b
        and len(nodes_a) == len(nodes_b)
        and all(x.pos == y.pos for x, y in zip(nodes_a, nodes_b, strict=True))
    )


def _through_text(node: ast.Node) -> ast.Node:
    return from_json(json.loads(json.dumps(to_json(node))))


def test_every_conformance_document_and_every_node_round_trips(conformance_dir: Path) -> None:
    for path in sorted((conformance_dir / "schema").glob("*.ftl")):
        header, _, text = path.read_text(encoding="utf-8").partition("\n")
        if "unexpected token" in header:
            continue
        document: ast.Node = (parse_module if "ParseModuleString" in header else parse_schema)(
            text, path.name
        )
        assert _same_with_positions(_through_text(document), document), path.name
        for node in ast.walk(document):
            assert _same_with_positions(_through_text(node), node), (path.name, node)


def test_shape_follows_upstream_protojson() -> None:
    schema = parse_schema(
        "realm r { module m {\n"
        "  // doc\n"
        '  export realm data D<T> { +generated  a [T]? +alias json "x" }\n'
        "  enum E: Int { A = 1 }\n"
        "  verb v(m.D<String>) Unit  +calls m.v\n"
        "} }"
    )
    stripped = ast.Schema(realms=tuple(ast.replace(r, pos=ast.NO_POS) for r in schema.realms))
    data = json.loads(json.dumps(to_json(stripped)))
    [module] = data["realms"][0]["modules"]
    assert module["name"] == "m"
    data_decl, enum_decl, verb_decl = (d for d in module["decls"])
    assert set(data_decl) == {"data"} and set(enum_decl) == {"enum"} and set(verb_decl) == {"verb"}
    body = data_decl["data"]
    assert body["comments"] == ["doc"]
    assert body["visibility"] == "VISIBILITY_SCOPE_REALM"
    assert [p["name"] for p in body["typeParameters"]] == ["T"]
    assert body["metadata"][0].keys() == {"generated"}
    [field] = body["fields"]
    assert field["type"]["optional"]["type"]["array"]["element"]["ref"]["name"] == "T"
    assert field["metadata"][0]["alias"] == {
        "kind": "ALIAS_KIND_JSON",
        "alias": "x",
        "pos": {"line": 3, "column": 47},
    }
    assert enum_decl["enum"]["variants"][0]["value"]["intValue"]["value"] == 1
    assert enum_decl["enum"]["type"].keys() == {"int"}
    calls = verb_decl["verb"]["metadata"][0]["calls"]["calls"]
    assert [(c["module"], c["name"]) for c in calls] == [("m", "v")]


def test_defaults_are_left_out_and_positions_carry_file_names() -> None:
    retry = ast.MetadataRetry(count=0, pos=Position("f.ftl", 3, 4))
    assert to_json(retry) == {
        "metadataRetry": {"count": 0, "pos": {"filename": "f.ftl", "line": 3, "column": 4}}
    }
    assert to_json(ast.MetadataRetry()) == {"metadataRetry": {}}
    assert from_json(to_json(retry)) == retry
    assert from_json(to_json(retry)).pos == retry.pos


def test_schema_is_the_message_itself() -> None:
    assert to_json(ast.Schema()) == {}
    assert from_json({}) == ast.Schema()
    module = ast.Module(name="m", decls=(ast.Config(name="c", type=ast.Int()),))
    assert to_json(module) == {
        "module": {"name": "m", "decls": [{"config": {"name": "c", "type": {"int": {}}}}]}
    }
    assert from_json(to_json(module)) == module


@pytest.mark.parametrize(
    "data",
    [
        {"realms": [{"name": 3}]},
        {"realms": [{"name": "r", "bogus": 1}]},
        {"module": {"name": "m", "decls": [{"nope": {}}]}},
        {"module": {"name": "m", "decls": [{"config": {"name": "c"}}]}},
        {"module": {"name": "m", "pos": {"line": "1", "column": 1}}},
        {"data": {"name": "D", "visibility": "VISIBLE"}},
        {"realms": "r"},
    ],
)
def test_malformed_json_is_an_error(data: dict[str, object]) -> None:
    with pytest.raises(FtlError, match="invalid schema JSON"):
        from_json(data)
