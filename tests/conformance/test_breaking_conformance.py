"""conformance/breaking.json through our type-level breaking-change checker.

Policy (conformance/README.md): every case passes as upstream has it, except upstream bugs, which
are overridden below with a one-line reason each. Upstream reports only its first finding (in Go
map order); we report every finding, so for its non-deterministic cases we must report all of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conformance_data import json_cases

from ftl.schema import ast, parse_module, parse_schema, parse_type, validate_schema
from ftl.schema.breaking import Comparable, type_changes

# id -> (breaking, exact findings, reason)
OVERRIDES: dict[str, tuple[bool, list[str], str]] = {
    "ref-to-verb": (
        True,
        ["resolved reference v1.echo is a verb, not a type"],
        "upstream bug 3: its message prints the ref's Go type instead of the declaration's kind",
    ),
    "ref-to-config": (
        True,
        ["resolved reference v1.cfg is a config, not a type"],
        "upstream bug 3: its message prints the ref's Go type instead of the declaration's kind",
    ),
    "ref-generic-type-args-changed": (
        True,
        ["Pair: type argument 1: type changed from string to int"],
        "upstream bug 5: type arguments are compared, and type parameters resolve",
    ),
    "ref-generic-same-args": (False, [], "upstream bug 5: an unchanged generic type is not a change"),
    "data-generic-unchanged-no-schema": (
        False,
        [],
        "upstream bug 5: a field typed by a type parameter needs no schema to compare",
    ),
    "typealias-trailing-question-mark": (
        True,
        ["typealias A: type changed from int to optional"],
        "upstream's ParseType applies the `?` to the whole alias; our parser reads `Int?` as its type",
    ),
    "ref-self-recursive-data": (False, [], "upstream crash (bug 2): recursion through a ref terminates"),
}

_DECL_START = re.compile(r"^(?:\s*//[^\n]*\n)*\s*(?:export(?: realm)?\s+)?(?:data|enum|typealias)\b")


def _cases() -> list[dict[str, Any]]:
    return json_cases("breaking.json")


def _parse(text: str) -> Comparable:
    """What upstream's ParseType accepts: a type, or a single data/enum/typealias declaration."""
    if _DECL_START.match(text):
        module = parse_module("module m {\n" + text + "\n}", "previous.schema")
        [decl] = module.decls
        assert isinstance(decl, ast.Data | ast.Enum | ast.TypeAlias)
        return decl
    return parse_type(text, "previous.schema")


def _schema(case: dict[str, Any]) -> ast.Schema | None:
    if "schema" not in case:
        return None
    schema, diagnostics = validate_schema(parse_schema(case["schema"], "schema.ftl"))
    assert not diagnostics, diagnostics
    return schema


def test_conformance_data_is_present(conformance_dir: Path) -> None:
    assert len(json.loads((conformance_dir / "breaking.json").read_text())) == len(_cases()) == 111


@pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["id"]))
def test_breaking_case(case: dict[str, Any], conformance_dir: Path) -> None:
    schema = _schema(case)
    findings = [
        f.message
        for f in type_changes(_parse(case["old"]), _parse(case["new"]), old_schema=schema, new_schema=schema)
    ]
    if case["id"] in OVERRIDES:
        breaking, expected, _reason = OVERRIDES[case["id"]]
        assert bool(findings) is breaking
        assert findings == expected
        return
    expect = case["expect"]
    assert bool(findings) is expect["breaking"], findings
    if not expect.get("deterministic", True):
        assert sorted(findings) == sorted(expect["findings_one_of"])
        return
    for wanted in expect["findings_contain"]:
        assert any(wanted in finding for finding in findings), (wanted, findings)
    assert len(findings) == len(expect["findings_contain"]), findings


def test_every_override_names_a_real_case() -> None:
    ids = {c["id"] for c in _cases()}
    if ids:
        assert set(OVERRIDES) <= ids
