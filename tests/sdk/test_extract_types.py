"""Python types -> schema types, and the errors for what has no schema form."""

from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.schema import ast

Extract = Callable[..., ast.Module]
Errors = Callable[..., list[str]]

HEADER = """
from __future__ import annotations
import datetime
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import Any, Generic, NewType, Optional, TypeAlias, TypeVar
import ftl
"""


def module_with(body: str, request: str = "Req") -> str:
    return HEADER + body + f"\n@ftl.verb(export=True)\ndef use(req: {request}) -> None:\n    pass\n"


def fields(module: ast.Module, name: str = "Req") -> dict[str, ast.Type]:
    data = module.decl(name)
    assert isinstance(data, ast.Data)
    return {f.name: f.type for f in data.fields}


def test_primitives_collections_and_optionals(extract: Extract) -> None:
    module = extract(
        module_with(
            """
@dataclass
class Req:
    count: int
    ratio: float
    name: str
    raw: bytes
    ok: bool
    at: datetime.datetime
    anything: Any
    tags: list[str]
    scores: dict[str, list[float]]
    user_id: int | None = None
    legacy: Optional[str] = None
"""
        )
    )
    assert fields(module) == {
        "count": ast.Int(),
        "ratio": ast.Float(),
        "name": ast.String(),
        "raw": ast.Bytes(),
        "ok": ast.Bool(),
        "at": ast.Time(),
        "anything": ast.Any(),
        "tags": ast.Array(ast.String()),
        "scores": ast.Map(ast.String(), ast.Array(ast.Float())),
        "userId": ast.Optional(ast.Int()),
        "legacy": ast.Optional(ast.String()),
    }


def test_positions_point_at_the_field_in_the_users_file(load: Callable[..., object]) -> None:
    loaded = load(module_with("\n@dataclass\nclass Req:\n    count: int\n"))
    data = loaded.schema.decl("Req")  # type: ignore[attr-defined]
    assert isinstance(data, ast.Data)
    assert data.pos.filename.endswith("shop/__init__.py")
    assert (data.pos.line, data.pos.column) == (10, 7)
    assert (data.fields[0].pos.line, data.fields[0].pos.column) == (11, 5)


def test_generic_dataclasses(extract: Extract) -> None:
    module = extract(
        module_with(
            """
T = TypeVar("T")

@dataclass
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None

@dataclass
class Req:
    page: Page[int]
"""
        )
    )
    page = module.decl("Page")
    assert isinstance(page, ast.Data)
    assert [p.name for p in page.type_params] == ["T"]
    assert page.fields[0].type == ast.Array(ast.Ref("", "T"))
    assert fields(module)["page"] == ast.Ref("shop", "Page", (ast.Int(),))


def test_value_enums_sum_types_aliases_and_newtypes(extract: Extract) -> None:
    module = extract(
        module_with(
            """
class Color(StrEnum):
    RED = "red"
    '''The red one.'''
    BLUE = "blue"

class Size(IntEnum):
    SMALL = 1
    LARGE = 2

@ftl.enum
class Shape:
    '''A shape.'''

@dataclass
class Circle(Shape):
    radius: float

@dataclass
class Square(Shape):
    side: float

@dataclass
class Dot:
    x: int

@dataclass
class Line:
    length: int

Mark: TypeAlias = Dot | Line
Sku: TypeAlias = str
UserId = NewType("UserId", int)

@dataclass
class Req:
    color: Color
    size: Size
    shape: Shape
    mark: Mark
    sku: Sku
    user: UserId
"""
        )
    )
    assert module.decl("Color") == ast.Enum(
        "Color",
        (
            ast.EnumVariant("RED", ast.StringValue("red"), comments=("The red one.",)),
            ast.EnumVariant("BLUE", ast.StringValue("blue")),
        ),
        type=ast.String(),
        visibility=ast.Visibility.MODULE,
    )
    size = module.decl("Size")
    assert isinstance(size, ast.Enum) and size.type == ast.Int()
    assert [v.value for v in size.variants] == [ast.IntValue(1), ast.IntValue(2)]
    assert module.decl("Shape") == ast.Enum(
        "Shape",
        (
            ast.EnumVariant("Circle", ast.TypeValue(ast.Ref("shop", "Circle"))),
            ast.EnumVariant("Square", ast.TypeValue(ast.Ref("shop", "Square"))),
        ),
        visibility=ast.Visibility.MODULE,
        comments=("A shape.",),
    )
    mark = module.decl("Mark")
    assert isinstance(mark, ast.Enum) and [v.name for v in mark.variants] == ["Dot", "Line"]
    assert module.decl("Sku") == ast.TypeAlias("Sku", ast.String(), visibility=ast.Visibility.MODULE)
    assert module.decl("UserId") == ast.TypeAlias("UserId", ast.Int(), visibility=ast.Visibility.MODULE)
    assert fields(module)["sku"] == ast.Ref("shop", "Sku")


def test_types_in_other_files_and_string_annotations(extract: Extract) -> None:
    module = extract(
        HEADER
        + """
from shop.models import Req
@ftl.verb
def use(req: "Req") -> "list[Req] | None":
    pass
""",
        files={
            "models.py": """
            from dataclasses import dataclass
            @dataclass
            class Req:
                child: "Child | None"
            @dataclass
            class Child:
                name: str
            """
        },
    )
    verb = module.decl("use")
    assert isinstance(verb, ast.Verb)
    assert verb.response == ast.Optional(ast.Array(ast.Ref("shop", "Req")))
    child = module.decl("Child")
    assert child is not None and child.pos.filename.endswith("models.py")


def test_only_reachable_classes_are_declared_and_visibility_spreads(extract: Extract) -> None:
    module = extract(
        HEADER
        + """
@dataclass
class Unused:
    anything: set[int]

@dataclass
class Inner:
    x: int

@dataclass
class Public:
    inner: list[Inner]

@dataclass
class Private:
    x: int

@ftl.verb(export="realm")
def shared(req: Public) -> None: ...

@ftl.verb
def internal(req: Private) -> None: ...
"""
    )
    assert module.decl("Unused") is None
    visibility = {d.name: getattr(d, "visibility", None) for d in module.decls}
    assert visibility["Public"] == visibility["Inner"] == ast.Visibility.REALM
    assert visibility["Private"] == ast.Visibility.NONE


def test_recursive_types(extract: Extract) -> None:
    module = extract(module_with("\n@dataclass\nclass Req:\n    children: list[Req]\n"))
    assert fields(module)["children"] == ast.Array(ast.Ref("shop", "Req"))


def test_docstrings_become_doc_comments(extract: Extract) -> None:
    body = '''
@dataclass
class Req:
    """A request.

    Two paragraphs."""
    x: int
    """The x."""
'''
    data = extract(module_with(body)).decl("Req")
    assert isinstance(data, ast.Data)
    assert data.comments == ("A request.", "", "Two paragraphs.")
    assert data.fields[0].comments == ("The x.",)


def test_unsupported_types_are_errors_saying_what_to_write(errors: Errors) -> None:
    found = errors(
        module_with(
            """
class Plain(Enum):
    A = 1

class NotData:
    pass

@dataclass
class Req:
    when: datetime.date
    items: list[int | None]
    pair: tuple[int, str]
    either: int | str
    bad__name: int
    keyed: dict[int, str]
    plain: Plain
    thing: NotData
    raw: list
    nothing: None
"""
        )
    )
    assert found == [
        "shop/__init__.py:9:7: enum Plain: FTL value enums are enum.StrEnum or enum.IntEnum "
        "(for a choice between data types, use a base class marked @ftl.enum)",
        "shop/__init__.py:17:11: unsupported type datetime.date: use datetime.datetime",
        "shop/__init__.py:18:17: optional types are only allowed at the outermost level of a type "
        "(`list[int] | None`, not `list[int | None]`): drop the `| None` or wrap the value in a dataclass",
        "shop/__init__.py:19:11: unsupported type tuple: use list[T] "
        "(or a dataclass for a fixed set of fields)",
        "shop/__init__.py:20:13: a union of several types is not supported: declare a sum type "
        "(a base class marked @ftl.enum with @dataclass subclasses)",
        "shop/__init__.py:21:5: field name 'bad__name' has no clean lowerCamel form: use snake_case "
        "(lowercase words joined by single underscores, like `user_id`)",
        "shop/__init__.py:22:17: map keys must be strings: write dict[str, V]",
        "shop/__init__.py:24:12: unsupported type shop.NotData: FTL data types are @dataclass classes; "
        "use int, float, str, bytes, bool, datetime.datetime, typing.Any, list[T], dict[str, T], T | None, "
        "a dataclass, an enum.StrEnum/IntEnum, or a type from ftl_modules",
        "shop/__init__.py:25:10: give the element type: write list[T]",
        "shop/__init__.py:26:14: None is only a type for a verb's request or response, or a type argument: "
        "for an optional value write `T | None`",
    ]


def test_data_types_must_live_in_the_package(errors: Errors) -> None:
    outside = "from dataclasses import dataclass\n@dataclass\nclass Outside:\n    x: int\n"
    found = errors(
        module_with("from helpers import Outside\n", request="Outside"), files={"../helpers.py": outside}
    )
    assert found == [
        "shop/__init__.py:11:14: Outside is defined in helpers, outside the module's package 'shop': "
        "define FTL data types in the package, or use another module's types from ftl_modules.<module>"
    ]


def test_generic_type_used_without_arguments(errors: Errors) -> None:
    found = errors(
        module_with('\nT = TypeVar("T")\n\n@dataclass\nclass Box(Generic[T]):\n    value: T\n', request="Box")
    )
    assert found == ["shop/__init__.py:16:14: Box is generic: give its type arguments, `Box[T]`"]


def test_two_classes_with_one_name(errors: Errors, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop").mkdir()
    monkeypatch.chdir(tmp_path / "shop")
    found = errors(
        HEADER
        + """
from shop import other
@dataclass
class Item:
    x: int
@dataclass
class Req:
    a: Item
    b: other.Item
@ftl.verb
def use(req: Req) -> None: ...
""",
        files={"other.py": "from dataclasses import dataclass\n@dataclass\nclass Item:\n    y: int\n"},
    )
    assert found == [
        "shop/other.py:3:7: two declarations are named 'Item' "
        "(the other at shop/__init__.py:11:7): rename one"
    ]
