"""Unit tests for `ftl.runtime.encoding`: the FTL-JSON wire form of Python values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum, IntEnum, StrEnum
from typing import Annotated, Any, Generic, NewType, TypeVar

import pytest

import ftl
from ftl.runtime._codec import codec_for
from ftl.runtime.encoding import (
    DecodeError,
    EncodeError,
    UnsupportedType,
    decode,
    encode,
    from_json_value,
    to_json_value,
)

T = TypeVar("T")


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class Size(IntEnum):
    SMALL = 1
    LARGE = 2


@dataclass
class Item:
    sku_code: str
    qty: int


@dataclass
class Order:
    items: list[Item]
    user_id: int | None = None
    color: Color = Color.RED
    placed_at: datetime | None = None
    notes: dict[str, str] = field(default_factory=dict)


@ftl.enum
class Shape:
    pass


@dataclass
class Circle(Shape):
    radius: float


@dataclass
class Square(Shape):
    side: float


@dataclass
class Drawing:
    shapes: list[Shape]
    main: Shape | None = None


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None


@dataclass
class Tree:
    label: str
    children: list[Tree] = field(default_factory=list)


@dataclass
class Everything:
    count: int
    ratio: float
    name: str
    ok: bool
    blob: bytes
    at: datetime
    size: Size
    anything: Any
    nothing: None


def wire(value: Any, py_type: Any) -> Any:
    return json.loads(encode(value, py_type))


class TestWireForm:
    def test_fields_are_lower_camel_and_optionals_null(self) -> None:
        order = Order(items=[Item("a-1", 2)])
        assert wire(order, Order) == {
            "items": [{"skuCode": "a-1", "qty": 2}],
            "userId": None,
            "color": "red",
            "placedAt": None,
            "notes": {},
        }

    def test_scalars(self) -> None:
        moment = datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
        value = Everything(3, 0.5, "n", True, b"\x00\xff", moment, Size.LARGE, {"a": [1]}, None)
        assert wire(value, Everything) == {
            "count": 3,
            "ratio": 0.5,
            "name": "n",
            "ok": True,
            "blob": "AP8=",
            "at": "2024-05-01T12:30:00.250000+02:00",
            "size": 2,
            "anything": {"a": [1]},
            "nothing": {},
        }

    def test_sum_types_are_name_and_value(self) -> None:
        drawing = Drawing([Circle(1.5), Square(2.0)], main=Square(1.0))
        assert wire(drawing, Drawing) == {
            "shapes": [
                {"name": "Circle", "value": {"radius": 1.5}},
                {"name": "Square", "value": {"side": 2.0}},
            ],
            "main": {"name": "Square", "value": {"side": 1.0}},
        }

    def test_union_alias_is_a_sum_type(self) -> None:
        assert wire(Item("x", 1), Item | Circle) == {"name": "Item", "value": {"skuCode": "x", "qty": 1}}
        assert decode(b'{"name":"Circle","value":{"radius":2}}', Item | Circle) == Circle(2.0)

    def test_unit(self) -> None:
        assert encode(None, None) == b"{}"
        assert decode(b"{}", None) is None
        assert decode(b"{}", type(None)) is None

    def test_http_types_with_unit_arguments(self) -> None:
        response = ftl.HttpResponse[None, str](status=404, error="missing")
        # `body: Body | None` with Body = Unit stays optional: null, not {}.
        assert wire(response, ftl.HttpResponse[None, str]) == {
            "status": 404,
            "headers": {},
            "body": None,
            "error": "missing",
        }
        request = decode(
            b'{"method":"GET","path":"/a","pathParameters":{},"query":{},"headers":{"X":["1"]},"body":{}}',
            ftl.HttpRequest[None, None, None],
        )
        assert request == ftl.HttpRequest("GET", "/a", None, None, {"X": ["1"]}, None)

    def test_generic_dataclass(self) -> None:
        page = Page[Item]([Item("a", 1)], next_token="t")
        data = encode(page, Page[Item])
        assert json.loads(data) == {"items": [{"skuCode": "a", "qty": 1}], "nextToken": "t"}
        assert decode(data, Page[Item]) == page
        with pytest.raises(DecodeError, match=r"^items\[0\]: expected Int, got String$"):
            decode(b'{"items":["x"]}', Page[int])

    def test_recursive_dataclass(self) -> None:
        tree = Tree("a", [Tree("b", [Tree("c")]), Tree("d")])
        assert decode(encode(tree, Tree), Tree) == tree

    def test_any_encodes_by_runtime_type(self) -> None:
        value = {"c": Circle(1.0), "t": datetime(2020, 1, 1, tzinfo=UTC), "b": b"hi", "s": Size.SMALL}
        assert to_json_value(value, Any) == {
            "c": {"radius": 1.0},
            "t": "2020-01-01T00:00:00Z",
            "b": "aGk=",
            "s": 1,
        }

    def test_newtype_and_annotated_use_the_underlying_type(self) -> None:
        user_id = NewType("user_id", int)
        assert encode(user_id(4), user_id) == b"4"
        assert decode(b"5", Annotated[int, "meta"]) == 5

    def test_dict_with_int_keys(self) -> None:
        assert encode({1: "a"}, dict[int, str]) == b'{"1":"a"}'
        assert decode(b'{"2":"b"}', dict[int, str]) == {2: "b"}


class TestDecodeValidates:
    def test_names_the_failing_path(self) -> None:
        data = b'{"items":[{"skuCode":"a","qty":1},{"skuCode":"b","qty":2},{"skuCode":"c","qty":"x"}]}'
        with pytest.raises(DecodeError) as info:
            decode(data, Order, root="req")
        assert str(info.value) == "req.items[2].qty: expected Int, got String"
        assert info.value.path == "req.items[2].qty"

    def test_missing_required_field(self) -> None:
        with pytest.raises(DecodeError, match=r"^items\[0\]\.qty: missing required field \(Int\)$"):
            decode(b'{"items":[{"skuCode":"a"}]}', Order)

    def test_unknown_field_rejected_unless_lenient(self) -> None:
        data = b'{"items":[],"sku":1}'
        with pytest.raises(DecodeError, match=r"^sku: unknown field of Order"):
            decode(data, Order)
        assert decode(data, Order, lenient=True) == Order(items=[])

    def test_snake_case_is_not_a_wire_name(self) -> None:
        with pytest.raises(DecodeError, match=r"^user_id: unknown field"):
            decode(b'{"items":[],"user_id":1}', Order)

    def test_missing_containers_and_optionals_decode_empty(self) -> None:
        @dataclass
        class Holder:
            tags: list[str]
            meta: dict[str, int]
            blob: bytes
            maybe: int | None
            anything: Any
            unit: None

        assert decode(b"{}", Holder) == Holder([], {}, b"", None, None, None)

    def test_null_for_a_required_field(self) -> None:
        with pytest.raises(DecodeError, match=r"^qty: expected Int, got null$"):
            decode(b'{"skuCode":"a","qty":null}', Item)

    def test_scalar_coercions_match_schema_validation(self) -> None:
        assert decode(b'{"skuCode":"a","qty":"12"}', Item) == Item("a", 12)
        assert decode(b'{"skuCode":"a","qty":3.0}', Item) == Item("a", 3)
        assert decode(b'"2.5"', float) == 2.5
        assert decode(b'"t"', bool) is True
        with pytest.raises(DecodeError, match="expected Int, got Float"):
            decode(b"3.5", int)
        with pytest.raises(DecodeError, match=r"^integer out of range for Int \(64-bit\)$"):
            decode(str(2**63).encode(), int)

    def test_enums_by_value(self) -> None:
        assert decode(b'"green"', Color) is Color.GREEN
        assert decode(b"2.0", Size) is Size.LARGE
        with pytest.raises(DecodeError, match=r'^expected one of "red", "green" \(Color\), got "GREEN"$'):
            decode(b'"GREEN"', Color)
        with pytest.raises(DecodeError, match="Size"):
            decode(b'"1"', Size)

    def test_sum_type_errors(self) -> None:
        with pytest.raises(DecodeError, match=r"^shapes\[0\]: unknown variant 'Oval' of Shape"):
            decode(b'{"shapes":[{"name":"Oval","value":{}}]}', Drawing)
        with pytest.raises(DecodeError, match=r'^main: expected Shape as \{"name"'):
            decode(b'{"shapes":[],"main":{"radius":1}}', Drawing)
        with pytest.raises(DecodeError, match=r"^main\.radius: missing required field"):
            decode(b'{"shapes":[],"main":{"name":"Circle","value":{}}}', Drawing)
        with pytest.raises(DecodeError, match='without "value"'):
            decode(b'{"name":"Circle"}', Shape)

    def test_times_need_an_offset(self) -> None:
        moment = decode(b'"2009-11-29T21:33:00.123456789+01:00"', datetime)
        assert moment == datetime(2009, 11, 29, 21, 33, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
        with pytest.raises(DecodeError, match="expected Time"):
            decode(b'"2009-11-29T21:33:00"', datetime)

    def test_bytes_must_be_padded_standard_base64(self) -> None:
        assert decode(b'"aGk="', bytes) == b"hi"
        with pytest.raises(DecodeError, match="base64"):
            decode(b'"aGk"', bytes)

    def test_unit_must_be_empty_object(self) -> None:
        with pytest.raises(DecodeError, match=r"^expected Unit \(\{\}\), got object$"):
            decode(b'{"a":1}', None)

    def test_invalid_json(self) -> None:
        with pytest.raises(DecodeError, match=r"^req: invalid JSON"):
            decode(b'{"items":', Order, root="req")

    def test_dataclass_checks_become_decode_errors(self) -> None:
        @dataclass
        class Positive:
            n: int

            def __post_init__(self) -> None:
                if self.n <= 0:
                    raise ValueError("n must be positive")

        with pytest.raises(DecodeError, match=r'^\["p"\]: invalid Positive: n must be positive$'):
            from_json_value({"p": {"n": 0}}, dict[str, Positive])


class TestEncodeChecks:
    def test_wrong_type_names_the_path(self) -> None:
        with pytest.raises(EncodeError) as info:
            encode(Order(items=[Item("a", "2")]), Order, root="resp")  # type: ignore[arg-type]
        assert str(info.value) == "resp.items[0].qty: expected Int, got String"

    def test_naive_datetime_is_refused(self) -> None:
        with pytest.raises(EncodeError, match="naive datetime"):
            encode(datetime(2020, 1, 1), datetime)

    def test_nan_is_refused(self) -> None:
        with pytest.raises(EncodeError, match="no JSON form"):
            encode(float("nan"), float)

    def test_bool_is_not_an_int(self) -> None:
        with pytest.raises(EncodeError, match="expected Int, got Bool"):
            encode(True, int)

    def test_unknown_variant(self) -> None:
        @dataclass
        class Triangle:
            base: float

        with pytest.raises(
            EncodeError, match=r"^expected a variant of Shape \(Circle, Square\), got Triangle$"
        ):
            encode(Triangle(1.0), Shape)


class TestTypes:
    @pytest.mark.parametrize("py_type", [set[int], complex, dict[float, str], object])
    def test_unsupported(self, py_type: Any) -> None:
        with pytest.raises(UnsupportedType):
            encode(None, py_type)

    def test_mixed_value_enum_is_unsupported(self) -> None:
        class Mixed(Enum):
            A = 1
            B = "b"

        with pytest.raises(UnsupportedType, match="StrEnum or IntEnum"):
            encode(Mixed.A, Mixed)

    def test_sum_type_marker_is_not_inherited(self) -> None:
        class Base:
            __ftl_enum__ = True

        @dataclass
        class Variant(Base):
            x: int

        assert wire(Variant(1), Base) == {"name": "Variant", "value": {"x": 1}}
        # The variant itself is plain data, not a sum type.
        assert wire(Variant(1), Variant) == {"x": 1}

    def test_codecs_are_cached(self) -> None:
        assert codec_for(Page[Item], lenient=False) is codec_for(Page[Item], lenient=False)
        assert codec_for(Page[Item], lenient=False) is not codec_for(Page[Item], lenient=True)
        assert codec_for(Page[Item], lenient=False) is not codec_for(Page[int], lenient=False)
