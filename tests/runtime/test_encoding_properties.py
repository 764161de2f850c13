"""Property tests for FTL-JSON: random types and values round-trip, and agree with the schema validator.

Each generated `Case` is a Python type together with the schema type it stands for (the form
extraction gives it), a strategy for its values, and the declarations the schema type refers to.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import keyword
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any, Generic, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from ftl.names import lower_camel
from ftl.runtime.encoding import DecodeError, decode, encode, from_json_value
from ftl.schema import ast
from ftl.schema.jsonvalidate import INT64_MAX, INT64_MIN, validate_json

T = TypeVar("T")


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 9


@dataclass
class Box(Generic[T]):
    value: T
    items: list[T]


ENUM_DECLS: tuple[ast.Decl, ...] = (
    ast.Enum(
        "Color",
        type=ast.String(),
        variants=tuple(ast.EnumVariant(c.name, ast.StringValue(c.value)) for c in Color),
    ),
    ast.Enum(
        "Level", type=ast.Int(), variants=tuple(ast.EnumVariant(c.name, ast.IntValue(c.value)) for c in Level)
    ),
    ast.Data(
        "Box",
        fields=(ast.Field("value", ast.Ref("", "T")), ast.Field("items", ast.Array(ast.Ref("", "T")))),
        type_params=(ast.TypeParameter("T"),),
    ),
)


@dataclass(frozen=True)
class Case:
    py: Any
    schema: ast.Type
    values: st.SearchStrategy[Any]
    decls: tuple[ast.Decl, ...] = ()
    optional: bool = False


def ref(name: str, *args: ast.Type) -> ast.Ref:
    return ast.Ref("m", name, args)


OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)

SCALARS = [
    Case(int, ast.Int(), st.integers(INT64_MIN, INT64_MAX)),
    Case(float, ast.Float(), st.floats(allow_nan=False, allow_infinity=False)),
    Case(str, ast.String(), st.text()),
    Case(bool, ast.Bool(), st.booleans()),
    Case(bytes, ast.Bytes(), st.binary(max_size=20)),
    Case(datetime, ast.Time(), st.datetimes(timezones=st.sampled_from(OFFSETS))),
    Case(Color, ref("Color"), st.sampled_from(Color)),
    Case(Level, ref("Level"), st.sampled_from(Level)),
    Case(Any, ast.Any(), json_values),
]

_names = itertools.count()
# Python keywords (`as`, `if`) cannot be dataclass field names.
field_names = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z][a-z0-9]{0,4}){0,2}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)


def _list(case: Case) -> Case:
    return Case(list[case.py], ast.Array(case.schema), st.lists(case.values, max_size=3), case.decls)


def _dict(case: Case) -> Case:
    values = st.dictionaries(st.text(), case.values, max_size=3)
    return Case(dict[str, case.py], ast.Map(ast.String(), case.schema), values, case.decls)


def _optional(case: Case) -> Case:
    if case.optional or case.py is Any:
        return case
    return Case(case.py | None, ast.Optional(case.schema), st.none() | case.values, case.decls, optional=True)


def _box(case: Case) -> Case:
    values = st.builds(Box, case.values, st.lists(case.values, max_size=2))
    return Case(Box[case.py], ref("Box", case.schema), values, case.decls)


@st.composite
def _data(draw: st.DrawFn, children: st.SearchStrategy[Case], base: type | None = None) -> Case:
    names = draw(st.lists(field_names, max_size=4, unique_by=lower_camel))
    fields = [(name, draw(children)) for name in names]
    cls_name = f"D{next(_names)}"
    cls = dataclasses.make_dataclass(cls_name, [(n, c.py) for n, c in fields], bases=(base,) if base else ())
    decl = ast.Data(cls_name, fields=tuple(ast.Field(lower_camel(n), c.schema) for n, c in fields))
    values = st.builds(cls, **{n: c.values for n, c in fields})
    decls = (decl, *(d for _, c in fields for d in c.decls))
    return Case(cls, ref(cls_name), values, decls)


@st.composite
def _sum(draw: st.DrawFn, children: st.SearchStrategy[Case]) -> Case:
    """A sum type: either an `@ftl.enum`-style base with dataclass variants, or a Union of dataclasses."""
    marked = draw(st.booleans())
    name = f"S{next(_names)}"
    base = type(name, (), {"__ftl_enum__": True}) if marked else None
    variants = [draw(_data(children, base)) for _ in range(draw(st.integers(1 if marked else 2, 3)))]
    enum = ast.Enum(
        name, variants=tuple(ast.EnumVariant(v.py.__name__, ast.TypeValue(v.schema)) for v in variants)
    )
    py: Any = base
    if base is None:
        py = variants[0].py
        for variant in variants[1:]:
            py = py | variant.py
    values = st.one_of(*(v.values for v in variants))
    return Case(py, ref(name), values, (enum, *(d for v in variants for d in v.decls)))


cases: st.SearchStrategy[Case] = st.recursive(
    st.sampled_from(SCALARS),
    lambda children: st.one_of(
        children.map(_list),
        children.map(_dict),
        children.map(_optional),
        children.map(_box),
        _data(children),
        _sum(children),
    ),
    max_leaves=5,
)


def _schema(case: Case) -> ast.Schema:
    return ast.Schema((ast.Realm("r", modules=(ast.Module("m", decls=(*ENUM_DECLS, *case.decls)),)),))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_round_trip(data: st.DataObject) -> None:
    case = data.draw(cases)
    value = data.draw(case.values)
    assert decode(encode(value, case.py), case.py) == value


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_encoded_values_fit_the_schema_type(data: st.DataObject) -> None:
    case = data.draw(cases)
    value = data.draw(case.values)
    assert validate_json(json.loads(encode(value, case.py)), case.schema, _schema(case)) == []


@settings(max_examples=100, deadline=None)
@given(case=_data(st.sampled_from(SCALARS)), data=st.data())
def test_wire_names_are_lower_camel(case: Case, data: st.DataObject) -> None:
    value = data.draw(case.values)
    wire = json.loads(encode(value, case.py))
    assert list(wire) == [lower_camel(f.name) for f in dataclasses.fields(case.py)]


# Strings near the edges of the scalar rules: numbers, ParseBool words, base64 with and without padding.
tricky_text = st.from_regex(
    r"[+-]?[0-9]{0,3}(\.[0-9]{0,2})?([eE][+-]?[0-9])?|[tTfF01]|true|False|NaN|-?Inf|aGk=?|2024-01-01T00:00:00(Z|\+01:00)?",
    fullmatch=True,
)


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(SCALARS[:6]), value=json_values | tricky_text | st.just({}))
def test_decoder_accepts_exactly_what_the_validator_accepts(case: Case, value: Any) -> None:
    valid = validate_json(value, case.schema, _schema(case)) == []
    try:
        from_json_value(value, case.py)
    except DecodeError:
        assert not valid
    else:
        assert valid
