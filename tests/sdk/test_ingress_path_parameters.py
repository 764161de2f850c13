"""An ingress path's parameters must reach the verb: a path with `{item_id}` and no path type in
`ftl.HttpRequest` is an error at that type argument, not a parameter silently dropped."""

from collections.abc import Callable

import pytest

from ftl.schema import ast

Extract = Callable[..., ast.Module]
Errors = Callable[..., list[str]]

HEADER = """\
from dataclasses import dataclass
import ftl


@dataclass
class ItemPath:
    item_id: str

"""


def ingress(path: str, request: str) -> str:
    """An ingress verb `get_item` (its `def` on line 11) serving `path` with request type `request`."""
    return (
        HEADER
        + f'\n@ftl.ingress("GET", "{path}")\n'
        + f"def get_item(req: {request}) -> ftl.HttpResponse[str, str]:\n"
        + '    return ftl.HttpResponse(body="")\n'
    )


def test_a_path_parameter_without_a_path_type_is_an_error(errors: Errors) -> None:
    assert errors(ingress("/alpha/items/{item_id}", "ftl.HttpRequest[None, None, None]")) == [
        "shop/__init__.py:11:41: ingress path /alpha/items/{item_id} has the parameter item_id, but the path "
        "type of ftl.HttpRequest is None, so the verb would never see it: declare a path dataclass with the "
        "field item_id (`@dataclass class GetItemPath: item_id: str`) and take "
        "`ftl.HttpRequest[Body, GetItemPath, Query]`"
    ]


def test_several_path_parameters_are_named_together(errors: Errors) -> None:
    [found] = errors(ingress("/shops/{shop_id}/items/{item_id}", "ftl.HttpRequest[None, None, None]"))
    assert found.startswith(
        "shop/__init__.py:11:41: ingress path /shops/{shop_id}/items/{item_id} has the parameters "
        "shop_id, item_id, but the path type of ftl.HttpRequest is None, so the verb would never see them: "
        "declare a path dataclass with the fields shop_id, item_id "
        "(`@dataclass class GetItemPath: shop_id: str; item_id: str`)"
    )


@pytest.mark.parametrize(
    ("path", "request_type"),
    [
        ("/alpha/items/{item_id}", "ftl.HttpRequest[None, ItemPath, None]"),
        ("/alpha/items/{item_id}", "ftl.HttpRequest[None, str, None]"),
        ("/alpha/items/{item_id}", "ftl.HttpRequest[None, dict[str, str], None]"),
        ("/alpha/items", "ftl.HttpRequest[None, None, None]"),
    ],
)
def test_path_parameters_with_a_path_type_extract(extract: Extract, path: str, request_type: str) -> None:
    module = extract(ingress(path, request_type))
    [verb] = module.verbs()
    [metadata] = verb.metadata
    assert isinstance(metadata, ast.MetadataIngress)
    assert metadata.path_text == path.replace("item_id", "itemId")
