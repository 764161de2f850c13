"""Every case of `../shared/conformance/encoding.json`, run through `ftl.schema.jsonvalidate`.

Each case is a JSON text checked against a type in a schema (see the conformance README). Where
upstream's behaviour looks like a bug we do what a user would expect (OVERRIDES), and where our
wording for the same fact differs from upstream's we name the substring we print (WORDING).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conformance_data import json_cases

from ftl.schema import ast, parse_schema, parse_type
from ftl.schema.jsonvalidate import alias_json, normalize_json

# Case id -> what we expect instead of upstream, with the reason.
OVERRIDES: dict[str, Any] = {
    # An aliased key holding null is still that field: a required field given null is a type error,
    # as `data-required-null` says, not "missing" plus "unknown field".
    "alias-null-value": {"error_contains": "userId: expected Int, got null"},
}

# Case id -> the substring of our message that states the same fact as upstream's wording.
WORDING: dict[str, str] = {
    # One message for "not an array" everywhere, instead of Go's "is not a slice".
    "array-not-array": "expected [Int], got String",
    "array-null": "expected [Int], got null",
    # ... and for "not an object" instead of "is not a map".
    "map-not-object": "expected {String: Int}, got array",
    # Upstream words these differently at the top level and inside data; we use one wording.
    "tenum-name-not-string": "expected 'name' field to be a string, got number",
    "goenc-malformed-sum-type": "missing name field in enum type Discriminator",
}


# Upstream's `<path> has wrong type, expected <T> found <go kind>` is the SDK spec's
# `<path>: expected <T>, got <FTL type>` here; the path and the expected type are the facts kept.
_UPSTREAM_WRONG_TYPE = re.compile(
    r"(?:(?P<path>\S+) )?has wrong type, expected(?: (?P<expected>.+?) found)?.*"
)


def our_wording(upstream: str) -> str:
    """The substring of our message that states the fact `upstream` (an `error_contains`) pins down."""
    match = _UPSTREAM_WRONG_TYPE.fullmatch(upstream)
    if match is None:
        return upstream
    expected = f"expected {match['expected']}, got" if match["expected"] else "expected"
    return f"{match['path']}: {expected}" if match["path"] else expected


def _cases() -> list[dict[str, Any]]:
    return json_cases("encoding.json")


_SCHEMAS: dict[str, ast.Schema] = {}


def _schema(text: str) -> ast.Schema:
    if text not in _SCHEMAS:
        _SCHEMAS[text] = parse_schema(text)
    return _SCHEMAS[text]


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case["id"])
def test_encoding_case(case: dict[str, Any], conformance_dir: Path) -> None:
    schema = _schema(case["schema"])
    type_ = parse_type(case["type"])
    value = json.loads(case["json"])
    root = ".".join(case.get("path", []))

    normalized, errors = normalize_json(value, type_, schema, root, lenient=case.get("lenient", False))

    expect = OVERRIDES.get(case["id"], case["expect"])
    if expect == "valid":
        assert errors == []
        if "canonical" in case:
            assert normalized == case["canonical"]
            assert alias_json(case["canonical"], type_, schema) == value
    else:
        wanted = WORDING.get(case["id"], our_wording(expect["error_contains"]))
        assert errors, "expected an error"
        assert wanted in "\n".join(errors)


def test_every_case_is_listed(conformance_dir: Path) -> None:
    ids = {case["id"] for case in json.loads((conformance_dir / "encoding.json").read_text())}
    assert len(ids) == 193
    assert set(OVERRIDES) <= ids and set(WORDING) <= ids
