"""Generated stubs: plain typed Python that imports, type-checks and maps back to the schema."""

import enum
import importlib
import sys
import typing
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import ftl
from ftl._sdk.decorators import is_sum_type_base
from ftl.build.stubs import remove_stale_stubs, stubs_dir, write_module_stub, write_realm_stubs
from ftl.schema import ast

V = ast.Visibility
SHOP = ast.Module(
    "shop",
    (
        ast.Topic("orders", ast.Ref("shop", "Order"), visibility=V.MODULE),
        ast.TypeAlias("Sku", ast.String(), visibility=V.MODULE),
        ast.TypeAlias("Skus", ast.Array(ast.Ref("shop", "Sku")), visibility=V.MODULE),
        ast.Enum(
            "Color",
            (
                ast.EnumVariant("RED", ast.StringValue("red")),
                ast.EnumVariant("BLUE", ast.StringValue("blue")),
            ),
            type=ast.String(),
            visibility=V.MODULE,
        ),
        ast.Enum("Size", (ast.EnumVariant("SMALL", ast.IntValue(1)),), type=ast.Int(), visibility=V.MODULE),
        ast.Enum(
            "Payment",
            (
                ast.EnumVariant("Card", ast.TypeValue(ast.Ref("shop", "Card"))),
                ast.EnumVariant("Cash", ast.TypeValue(ast.Ref("shop", "Cash"))),
            ),
            visibility=V.MODULE,
        ),
        ast.Data("Card", (ast.Field("number", ast.String()),), visibility=V.MODULE),
        ast.Data("Cash", (), visibility=V.MODULE),
        ast.Data(
            "Order",
            (
                ast.Field("orderId", ast.Int(), comments=("The order's id.",)),
                ast.Field("placedAt", ast.Time()),
                ast.Field("skus", ast.Ref("shop", "Skus")),
                ast.Field("color", ast.Optional(ast.Ref("shop", "Color"))),
                ast.Field("payment", ast.Ref("shop", "Payment")),
                ast.Field("from", ast.Map(ast.String(), ast.Any())),
                ast.Field("page", ast.Ref("shop", "Page", (ast.Int(),))),
            ),
            visibility=V.MODULE,
            comments=("An order.",),
        ),
        ast.Data(
            "Page", (ast.Field("items", ast.Array(ast.Ref("", "T"))),), (ast.TypeParameter("T"),), V.MODULE
        ),
        ast.Data("Hidden", (ast.Field("x", ast.Int()),)),
        ast.Verb("place", ast.Ref("shop", "Order"), ast.Unit(), visibility=V.MODULE, comments=("Place it.",)),
        ast.Verb("latestOrder", ast.Unit(), ast.Optional(ast.Ref("shop", "Order")), visibility=V.MODULE),
        ast.Verb("internal", ast.Unit(), ast.Unit()),
    ),
)


def forget_stub_modules() -> None:
    for name in [n for n in sys.modules if n == "ftl_modules" or n.startswith("ftl_modules.")]:
        del sys.modules[name]


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    forget_stub_modules()
    sys.path.insert(0, str(stubs_dir(tmp_path)))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(stubs_dir(tmp_path)))
        forget_stub_modules()


def test_a_stub_holds_the_exported_declarations_as_typed_python(importable: Path) -> None:
    path = write_module_stub(importable, SHOP)
    assert path == importable / ".ftl" / "stubs" / "ftl_modules" / "shop.py"
    shop = importlib.import_module("ftl_modules.shop")
    assert not hasattr(shop, "Hidden") and not hasattr(shop, "internal")
    hints = typing.get_type_hints(shop.Order)
    assert (
        hints["order_id"] is int
        and hints["placed_at"] is datetime
        and hints["from_"] == dict[str, typing.Any]
    )
    assert hints["color"] == shop.Color | None
    assert hints["page"] == shop.Page[int]
    assert shop.Skus == list[str]
    assert issubclass(shop.Color, enum.StrEnum) and shop.Color.RED.value == "red"
    assert issubclass(shop.Size, enum.IntEnum)
    assert is_sum_type_base(shop.Payment) and issubclass(shop.Card, shop.Payment)
    assert shop.Order.__doc__ == "An order."
    order = shop.Order(
        order_id=1,
        placed_at=datetime.now(),
        skus=[],
        payment=shop.Cash(),
        from_={},
        page=shop.Page(items=[1]),
    )
    assert order.color is None
    assert isinstance(shop.place, ftl.VerbClient) and (shop.place.module, shop.place.verb) == (
        "shop",
        "place",
    )
    assert shop.place.request_type is shop.Order and shop.place.response_type is None
    assert isinstance(shop.latest_order, ftl.SourceClient)
    assert shop.latest_order.response_type == typing.Optional[shop.Order]  # noqa: UP045
    assert isinstance(shop.orders, ftl.Topic) and shop.orders.module == "shop"
    with pytest.raises(ftl.FtlCallError, match=r"ftl\.testing"):
        shop.place(order)


def test_external_realm_stubs_live_under_the_realm_and_reference_each_other(importable: Path) -> None:
    accounts = ast.Module(
        "accounts",
        (
            ast.Data("Receipt", (ast.Field("amount", ast.Ref("money", "Cents")),), visibility=V.REALM),
            ast.Verb("pay", ast.Int(), ast.Ref("accounts", "Receipt"), visibility=V.REALM),
            ast.Verb("audit", ast.Int(), ast.Int(), visibility=V.MODULE),
        ),
    )
    money = ast.Module("money", (ast.TypeAlias("Cents", ast.Int(), visibility=V.REALM),))
    write_realm_stubs(importable, ast.Realm("bank", (accounts, money), external=True))
    stub = importlib.import_module("ftl_modules.bank.accounts")
    assert (stub.pay.module, stub.pay.verb, stub.pay.realm) == ("accounts", "pay", "bank")
    assert not hasattr(stub, "audit")
    assert typing.get_type_hints(stub.Receipt)["amount"] is int


def test_stubs_are_rewritten_only_when_they_change_and_stale_ones_go(tmp_path: Path) -> None:
    path = write_module_stub(tmp_path, SHOP)
    before = path.stat().st_mtime_ns
    write_module_stub(tmp_path, SHOP)
    assert path.stat().st_mtime_ns == before
    gone = write_module_stub(tmp_path, ast.Module("gone"))
    write_realm_stubs(tmp_path, ast.Realm("bank", (ast.Module("accounts"),), external=True))
    remove_stale_stubs(tmp_path, ["shop"], [])
    assert path.exists() and not gone.exists()
    assert not (stubs_dir(tmp_path) / "ftl_modules" / "bank").exists()
