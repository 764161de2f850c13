"""Unit tests for `ftl.schema.jsonvalidate`, on hand-built schemas (the conformance cases cover the rest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ftl.schema import ast
from ftl.schema.jsonvalidate import (
    alias_json,
    json_bool,
    json_bytes,
    json_float,
    json_int,
    json_time,
    normalize_json,
    validate_json,
)
from ftl.schema.printer import print_type


def ref(module: str, name: str, *args: ast.Type, realm: str = "") -> ast.Ref:
    return ast.Ref(module, name, tuple(args), realm)


def field(name: str, type_: ast.Type, alias: str | None = None) -> ast.Field:
    metadata = (ast.MetadataAlias(ast.AliasKind.JSON, alias),) if alias else ()
    return ast.Field(name, type_, metadata=metadata)


PAIR = ast.Data(
    "Pair",
    fields=(field("key", ref("", "K")), field("value", ref("", "V"), alias="v")),
    type_params=(ast.TypeParameter("K"), ast.TypeParameter("V")),
)
BOX = ast.Data(
    "Box",
    # A generic that passes its own parameter on: `inner m.Pair<String, T>`.
    fields=(field("inner", ref("m", "Pair", ast.String(), ref("", "T"))),),
    type_params=(ast.TypeParameter("T"),),
)
POINT = ast.Data("Point", fields=(field("x", ast.Int()), field("y", ast.Int())))
LOCAL = ast.Data("Local", fields=(field("point", ref("", "Point")), field("empty", ref("", "Empty"))))
SHAPE = ast.Enum(
    "Shape",
    variants=(
        ast.EnumVariant("Point", ast.TypeValue(ref("m", "Point"))),
        ast.EnumVariant("Label", ast.TypeValue(ast.String())),
    ),
)
LEVEL = ast.Enum(
    "Level",
    type=ast.Int(),
    variants=(ast.EnumVariant("Low", ast.IntValue(1)), ast.EnumVariant("High", ast.IntValue(9))),
)
NAME = ast.TypeAlias("Name", ast.String())
CALL = ast.Verb("call", ast.Unit(), ast.Unit())
BUILTIN = ast.Module("builtin", decls=(ast.Data("Empty"),), builtin=True)
MODULE = ast.Module("m", decls=(PAIR, BOX, POINT, LOCAL, SHAPE, LEVEL, NAME, CALL))
BANK = ast.Module("bank", decls=(ast.Data("Receipt", fields=(field("amount", ast.Int()),)),))
SCHEMA = ast.Schema(
    (
        ast.Realm("shop", modules=(BUILTIN, MODULE)),
        ast.Realm("bank", modules=(BANK,), external=True),
    )
)


def check(value: Any, type_: ast.Type, path: str = "", lenient: bool = False) -> list[str]:
    return validate_json(value, type_, SCHEMA, path, lenient=lenient)


class TestScalars:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(3, 3), (3.0, 3), ("-12", -12), ("+4", 4), (2**63 - 1, 2**63 - 1), (True, None), ("1e3", None),
         (2**63, None), ("9223372036854775808", None), (1.5, None), (None, None)],
    )  # fmt: skip
    def test_int(self, value: Any, expected: int | None) -> None:
        assert json_int(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1, 1.0), (0.5, 0.5), ("2.5", 2.5), (".5", 0.5), ("1E3", 1000.0), ("-inf", float("-inf")),
         ("1e400", None), (" 1", None), ("1_0", None), (False, None), ("", None)],
    )  # fmt: skip
    def test_float(self, value: Any, expected: float | None) -> None:
        assert json_float(value) == expected

    def test_float_nan_text(self) -> None:
        number = json_float("NaN")
        assert number is not None and number != number

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(True, True), ("t", True), ("TRUE", True), ("0", False), ("False", False), ("yes", None), (1, None)],
    )
    def test_bool(self, value: Any, expected: bool | None) -> None:
        assert json_bool(value) is expected

    def test_bytes(self) -> None:
        assert json_bytes("aGk=") == b"hi"
        assert json_bytes("aGk") is None
        assert json_bytes("a-k=") is None
        assert json_bytes(b"aGk=") is None

    def test_time_keeps_the_offset_and_microseconds(self) -> None:
        moment = json_time("2024-02-29T23:59:58.1234567-05:30")
        assert moment == datetime(
            2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone(-timedelta(hours=5, minutes=30))
        )
        assert json_time("2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text",
        ["2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00",
         "2024-01-01T00:00:00+0100", "2024-01-01t00:00:00Z", "2024-01-01T00:00:00+24:00"],
    )  # fmt: skip
    def test_time_rejects(self, text: str) -> None:
        assert json_time(text) is None


class TestReferences:
    def test_generic_binds_parameters_through_another_generic(self) -> None:
        box = ref("m", "Box", ast.Array(ast.Int()))
        assert check({"inner": {"key": "k", "v": [1, 2]}}, box) == []
        assert check({"inner": {"key": "k", "v": [1, "x"]}}, box, "req") == [
            "req.inner.value[1]: expected Int, got String"
        ]

    def test_wrong_number_of_type_arguments(self) -> None:
        assert check({}, ref("m", "Box")) == [
            "value: reference to data structure Box has 0 type parameters, but 1 were expected"
        ]

    def test_bare_names_resolve_to_builtins_then_the_same_module(self) -> None:
        value = {"point": {"x": 1, "y": 2}, "empty": {}}
        assert check(value, ref("m", "Local")) == []
        assert check({**value, "empty": {"x": 1}}, ref("m", "Local")) == ["empty.x is not a valid field"]

    def test_external_realm_reference(self) -> None:
        assert check({"amount": 3}, ref("bank", "Receipt", realm="bank")) == []
        assert check({"amount": 3}, ref("bank", "Receipt")) == ["value: unknown reference bank.Receipt"]

    def test_reference_to_a_verb_is_not_a_type(self) -> None:
        assert check({}, ref("m", "call")) == ["value: m.call is a verb, not a type"]

    def test_typealias(self) -> None:
        assert check("bob", ref("m", "Name")) == []
        assert check(1, ref("m", "Name"), "name") == ["name: expected String, got Int"]


class TestEnums:
    def test_value_enum_explains_a_kind_mismatch(self) -> None:
        assert check(9, ref("m", "Level")) == []
        assert check(9.0, ref("m", "Level")) == []
        assert check("9", ref("m", "Level"), "level") == [
            "level: 9 is not a valid variant of enum Level (found string, its values are numbers)"
        ]
        assert check(4, ref("m", "Level")) == ["4 is not a valid variant of enum Level"]

    def test_type_enum_validates_the_variant_value(self) -> None:
        shape = ref("m", "Shape")
        assert check({"name": "Label", "value": "hi"}, shape) == []
        assert check({"name": "Point", "value": {"x": 1}}, shape, "s") == ["s.y is required"]
        assert check({"name": "Circle", "value": 1}, shape) == [
            '"Circle" is not a valid variant of enum Shape'
        ]


class TestData:
    def test_collects_every_error(self) -> None:
        assert check({"x": "a", "z": 1}, ref("m", "Point"), "p") == [
            "p.x: expected Int, got String",
            "p.y is required",
            "p.z is not a valid field",
        ]

    def test_lenient_keeps_unknown_fields(self) -> None:
        value, errors = normalize_json({"x": 1, "y": 2, "z": 3}, ref("m", "Point"), SCHEMA, lenient=True)
        assert errors == [] and value == {"x": 1, "y": 2, "z": 3}

    def test_aliases_are_undone_and_redone(self) -> None:
        pair = ref("m", "Pair", ast.String(), ref("m", "Point"))
        wire = {"key": "k", "v": {"x": 1, "y": 2}}
        value, errors = normalize_json(wire, pair, SCHEMA)
        assert errors == []
        assert value == {"key": "k", "value": {"x": 1, "y": 2}}
        assert alias_json(value, pair, SCHEMA) == wire

    def test_map_keys_are_checked_against_the_key_type(self) -> None:
        assert check({"1": "a", "x": "b"}, ast.Map(ast.Int(), ast.String())) == [
            '["x"]: expected Int, got String'
        ]


def test_messages_write_types_as_the_printer_does() -> None:
    assert print_type(ast.Optional(ast.Map(ast.String(), ast.Array(ref("m", "Box", ast.Int()))))) == (
        "{String: [m.Box<Int>]}?"
    )
    assert print_type(ref("bank", "Receipt", realm="bank")) == "bank.Receipt@bank"


def test_index_is_per_schema() -> None:
    other = ast.Schema(
        (ast.Realm("shop", modules=(ast.Module("m", decls=(ast.TypeAlias("Name", ast.Int()),)),)),)
    )
    assert validate_json(1, ref("m", "Name"), other) == []
    assert validate_json(1, ref("m", "Name"), SCHEMA) != []


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 1e30, "9223372036854775808", "9" * 5000])
def test_a_whole_number_beyond_int64_is_out_of_range(value: Any) -> None:
    assert check(value, ast.Int(), "maxId") == ["maxId: integer out of range for Int (64-bit)"]
    assert check({"x": value, "y": 1}, ref("m", "Point")) == ["x: integer out of range for Int (64-bit)"]
    assert check([value], ast.Array(ast.Int())) == ["[0]: integer out of range for Int (64-bit)"]


def test_what_is_no_whole_number_is_still_the_wrong_type() -> None:
    assert check(1.5, ast.Int(), "n") == ["n: expected Int, got Float"]
    assert check(True, ast.Int(), "n") == ["n: expected Int, got Bool"]
    assert check("1e3", ast.Int(), "n") == ["n: expected Int, got String"]
