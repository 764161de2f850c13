"""conformance/public.json through `ftl.realm.public_schema`.

Policy (conformance/README.md): our public schema is printed in our canonical order, so each
module's declarations are compared as a set (`expect_public_decls`); it holds one internal realm
(we call it per realm); upstream's crashes on generic types become correct output (CRASH_FIXES).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conformance_data import json_cases

from ftl.realm import public_schema
from ftl.schema import ast, parse_schema, print_decl, print_schema, validate_schema

# Upstream crashes on these (its traversal follows type-parameter refs into module ""). What a
# user expects instead, as {module: {(kind, name)}}; the builtin module is never part of it.
CRASH_FIXES: dict[str, dict[str, set[tuple[str, str]]]] = {
    "generic-data-realm-exported": {"bar": {("data", "Pair"), ("verb", "m")}},
    "nested-generics": {"bar": {("data", "Inner"), ("data", "Outer"), ("verb", "m")}},
    "builtin-generic-via-verb": {"web": {("verb", "index")}},
    "subscriber-deadletter": {
        "a": {("data", "Event"), ("verb", "consume"), ("topic", "events"), ("topic", "consumeFailed")}
    },
}


def _cases() -> list[dict[str, Any]]:
    return json_cases("public.json")


def _validated(text: str) -> ast.Schema:
    schema, diagnostics = validate_schema(parse_schema(text))
    assert not diagnostics, diagnostics
    return schema


def _publics(schema: ast.Schema) -> list[ast.Realm]:
    realms = []
    for realm in schema.internal_realms():
        [public] = public_schema(schema, realm.name).realms
        realms.append(public)
    return realms


def _decl_text(decl: ast.Decl) -> str:
    return "\n".join(line.rstrip() for line in print_decl(decl).strip("\n").splitlines())


@pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["id"]))
def test_public_case(case: dict[str, Any], conformance_dir: Path) -> None:
    publics = _publics(_validated(case["schema"]))
    if case["id"] in CRASH_FIXES:
        assert case["expect"] == "upstream crashes"
        [public] = publics
        got = {m.name: {(d.kind, d.name) for d in m.decls} for m in public.modules}
        assert got == CRASH_FIXES[case["id"]]
        return
    got_modules = [
        {"realm": realm.name, "module": module.name, "decls": sorted(_decl_text(d) for d in module.decls)}
        for realm in publics
        for module in realm.modules
    ]
    assert got_modules == case["expect_public_decls"]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["id"]))
def test_public_schema_is_canonical_and_stable(case: dict[str, Any], conformance_dir: Path) -> None:
    schema = _validated(case["schema"])
    for realm in schema.internal_realms():
        public = public_schema(schema, realm.name)
        text = print_schema(public)
        assert "builtin" not in {m.name for r in public.realms for m in r.modules}
        again, diagnostics = validate_schema(parse_schema(text))
        if case["id"] == "other-metadata-kept":
            # As upstream: `+egress "${target}"` stays although config `target` is dropped.
            assert [d.message for d in diagnostics if "egress" not in d.message] == []
            continue
        assert not diagnostics, (text, diagnostics)
        # Exporting the exported schema changes nothing: the public file is a fixed point.
        assert print_schema(public_schema(again, realm.name)) == text
        for node in ast.walk(public):
            assert getattr(node, "pos", ast.NO_POS) == ast.NO_POS


def test_empty_public_schema_prints_as_an_empty_realm(conformance_dir: Path) -> None:
    empty = next(c for c in _cases() if c["id"] == "no-realm-exports")
    assert print_schema(public_schema(_validated(empty["schema"]), "foo")) == empty["expect_public"]
