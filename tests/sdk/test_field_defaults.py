"""Dataclass fields the wire cannot honour: a default other than `None` on an optional field, a field
the constructor does not set (`init=False`), an `InitVar`. Each is an error at the field, never a
field silently dropped or made required behind the user's back."""

from collections.abc import Callable

import pytest

from ftl.build.stubs import render_stub
from ftl.runtime.encoding import decode
from ftl.runtime.loader import LoadedModule
from ftl.schema import ast

Extract = Callable[..., ast.Module]
Errors = Callable[..., list[str]]
Load = Callable[..., LoadedModule]

HEADER = """\
from dataclasses import InitVar, dataclass, field
from typing import Optional
import ftl


"""


def module_with(fields: str) -> str:
    """A request type `Req` with `fields` (its first field on line 8) and a verb that takes it."""
    return (
        HEADER
        + "@dataclass\nclass Req:\n"
        + fields
        + "\n\n@ftl.verb(export=True)\ndef use(req: Req) -> None:\n    pass\n"
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            "    limit: int = 10\n",
            "field limit of Req has a default (10), but FTL fields have no defaults: every caller sends "
            "them. Make it optional (`limit: int | None = None`) and apply the default in the verb",
        ),
        (
            "    verbose: bool = False\n",
            "field verbose of Req has a default (False), but FTL fields have no defaults: every caller "
            "sends them. Make it optional (`verbose: bool | None = None`) and apply the default in the verb",
        ),
        (
            "    tags: list[str] = field(default_factory=list)\n",
            "field tags of Req has a default (field(default_factory=list)), but FTL fields have no defaults: "
            "every caller sends them. Make it optional (`tags: list[str] | None = None`) and apply the "
            "default in the verb",
        ),
        (
            "    name: str | None = 'anonymous'\n",
            "field name of Req has a default ('anonymous'), but FTL fields have no defaults: every caller "
            "sends them. Make it optional (`name: str | None = None`) and apply the default in the verb",
        ),
        (
            "    name: str = None  # type: ignore[assignment]\n",
            "field name of Req has a default (None), but FTL fields have no defaults: every caller "
            "sends them. Make it optional (`name: str | None = None`) and apply the default in the verb",
        ),
    ],
)
def test_a_default_on_a_field_is_an_error_at_the_field(errors: Errors, field: str, message: str) -> None:
    assert errors(module_with("    id: int\n" + field)) == [f"shop/__init__.py:9:5: {message}"]


def test_an_inherited_field_with_a_default_is_reported_where_it_is_declared(errors: Errors) -> None:
    source = HEADER + (
        "@dataclass\nclass Page:\n    limit: int = 10\n\n\n"
        "@dataclass\nclass Req(Page):\n    pass\n"
        "\n\n@ftl.verb(export=True)\ndef use(req: Req) -> None:\n    pass\n"
    )
    [found] = errors(source)
    assert found.startswith("shop/__init__.py:8:5: field limit of Req has a default (10)")


def test_optional_fields_defaulting_to_none_are_fine(load: Load) -> None:
    loaded = load(module_with("    id: int\n    note: str | None = None\n    legacy: Optional[int] = None\n"))
    data = loaded.schema.decl("Req")
    assert isinstance(data, ast.Data)
    assert [(f.name, f.type) for f in data.fields] == [
        ("id", ast.Int()),
        ("note", ast.Optional(ast.String())),
        ("legacy", ast.Optional(ast.Int())),
    ]
    # Absent on the wire means None, and the generated client keeps the default.
    request_type = loaded.verbs["use"].request_type
    assert decode('{"id": 1}', request_type) == request_type(id=1, note=None, legacy=None)
    stub = render_stub(loaded.schema)
    assert "    id: int\n    note: str | None = None\n    legacy: int | None = None\n" in stub


def test_a_field_the_constructor_does_not_set_is_an_error(errors: Errors) -> None:
    assert errors(module_with("    id: int\n    cache: int = field(default=0, init=False)\n")) == [
        "shop/__init__.py:9:5: field cache of Req is not set by the constructor (init=False), so no caller "
        "could send it: FTL data is exactly its constructor's fields. Compute it with a @property, or keep "
        "it in a separate type that is not FTL data"
    ]


def test_an_init_var_is_an_error(errors: Errors) -> None:
    assert errors(module_with("    id: int\n    seed: InitVar[int]\n")) == [
        "shop/__init__.py:9:5: field seed of Req is an InitVar, which the wire cannot carry: make it an "
        "ordinary field, or compute what it sets up in the verb"
    ]


def test_string_annotations_are_shown_as_written(errors: Errors) -> None:
    source = "from __future__ import annotations\n" + module_with("    id: int\n    page: 'int' = 1\n")
    [found] = errors(source)
    assert "(`page: 'int' | None = None`)" not in found
    assert found.endswith("Make it optional (`page: int | None = None`) and apply the default in the verb")
