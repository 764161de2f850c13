"""Names taken from a generated stub that it lacks: a positioned extraction error at the use, never a
silent drop (stub_names.py, usage.py, loader.py)."""

from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.build.stubs import render_stub
from ftl.runtime.loader import LoadedModule
from ftl.schema import ast, parse_module

Errors = Callable[..., list[str]]
Stubs = Callable[[str, str], Path]
Load = Callable[..., LoadedModule]

BILLING = parse_module("""\
module billing {
  export data Charge { amount Int }
  export verb charge(billing.Charge) billing.Charge
  export verb refundOrder(billing.Charge) billing.Charge
  verb audit(billing.Charge) Unit
  data Ledger { total Int }
}
""")

HEAD = """\
from dataclasses import dataclass

import ftl
from ftl_modules import billing


@dataclass
class Req:
    amount: int

"""


@pytest.fixture
def billing_stub(stubs: Stubs) -> Path:
    return stubs("billing", render_stub(BILLING))


def verb_calling(line: str) -> str:
    return HEAD + f"\n@ftl.verb\ndef pay(req: Req) -> None:\n    {line}\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "billing.refund(billing.Charge(amount=1))",
            "module billing has no verb refund; did you mean billing.refund_order?",
        ),
        (
            "billing.refundOrder(billing.Charge(amount=1))",
            "module billing has no verb refundOrder; did you mean billing.refund_order?",
        ),
        (
            "billing.chrage(billing.Charge(amount=1))",
            "module billing has no verb chrage; did you mean billing.charge?",
        ),
        ("billing.Charj(amount=1)", "module billing has no type Charj; did you mean billing.Charge?"),
        (
            "billing.settle(billing.Charge(amount=1))",
            "module billing has no verb settle (its exported verbs: charge, refund_order)",
        ),
        (
            "billing.audit(billing.Charge(amount=1))",
            "verb audit of module billing is not exported: mark it `@ftl.verb(export=True)` to use it "
            "from other modules",
        ),
        (
            "billing.Ledger(total=1)",
            "data Ledger of module billing is not exported to other modules: it is when an exported verb "
            "uses it",
        ),
    ],
)
def test_a_name_the_stub_lacks_is_an_error_at_the_use(
    errors: Errors, billing_stub: Path, line: str, message: str
) -> None:
    assert errors(verb_calling(line), stubs=billing_stub) == [f"shop/__init__.py:14:5: {message}"]


def test_a_helper_the_verb_reaches_is_checked_too(errors: Errors, billing_stub: Path) -> None:
    source = HEAD + (
        "\ndef settle(amount: int) -> None:\n"
        "    billing.refund(billing.Charge(amount=amount))\n"
        "\n\n@ftl.verb\ndef pay(req: Req) -> None:\n    settle(req.amount)\n"
    )
    [found] = errors(source, stubs=billing_stub)
    assert found.startswith("shop/__init__.py:13:5: module billing has no verb refund")


def test_names_the_stub_has_still_extract(load: Load, billing_stub: Path) -> None:
    loaded = load(verb_calling("billing.charge(billing.Charge(amount=req.amount))"), stubs=billing_stub)
    [verb] = [d for d in loaded.schema.verbs() if d.name == "pay"]
    [calls] = [md for md in verb.metadata if isinstance(md, ast.MetadataCalls)]
    assert [(ref.module, ref.name) for ref in calls.calls] == [("billing", "charge")]


def test_importing_a_name_the_stub_lacks(errors: Errors, billing_stub: Path) -> None:
    assert errors("import ftl\nfrom ftl_modules.billing import audit\n", stubs=billing_stub) == [
        "shop/__init__.py:2:1: verb audit of module billing is not exported: mark it "
        "`@ftl.verb(export=True)` to use it from other modules"
    ]


def test_a_stub_of_another_realm_asks_for_export_realm(errors: Errors, stubs: Stubs) -> None:
    billing = parse_module("""\
module billing {
  export realm data Charge { amount Int }
  export verb charge(billing.Charge) billing.Charge
}
""")
    root = stubs("bank.billing", render_stub(billing, realm="bank"))
    source = "import ftl\nfrom ftl_modules.bank import billing\n\n\n@ftl.verb\ndef pay(req: int) -> None:\n"
    source += "    billing.charge(billing.Charge(amount=req))\n"
    assert errors(source, stubs=root) == [
        "shop/__init__.py:7:5: verb charge of module billing of realm bank is not exported: mark it "
        '`@ftl.verb(export="realm")` to use it from other realms'
    ]


ORDERS = parse_module("""\
module orders {
  export data OrderPlaced { id Int }
  export topic orders orders.OrderPlaced
  topic audits orders.OrderPlaced
  export verb place(orders.OrderPlaced) Unit
}
""")

TOPIC_HINT = (
    "module orders has no verb or topic orders_topic; did you mean orders.orders? (a stub names each topic "
    "by its schema name, not by the variable its module assigned it to: its topics are orders)"
)


@pytest.fixture
def orders_stub(stubs: Stubs) -> Path:
    return stubs("orders", render_stub(ORDERS))


def test_subscribing_to_a_topic_by_its_variable_name_is_an_error_at_the_decorator(
    errors: Errors, orders_stub: Path
) -> None:
    # The decorator's argument runs at import time: the AttributeError becomes the hint.
    source = (
        "import ftl\nfrom ftl_modules import orders\n\n\n"
        "@ftl.subscribe(orders.orders_topic)\ndef on_order(event: orders.OrderPlaced) -> None:\n    pass\n"
    )
    assert errors(source, stubs=orders_stub) == [f"shop/__init__.py:5:16: {TOPIC_HINT}"]


def test_a_topic_name_the_stub_lacks_in_a_verb_body(errors: Errors, orders_stub: Path) -> None:
    source = (
        "import ftl\nfrom ftl_modules import orders\n\n\n"
        "@ftl.verb\ndef relay(event: orders.OrderPlaced) -> None:\n    print(orders.orders_topic)\n"
    )
    assert errors(source, stubs=orders_stub) == [f"shop/__init__.py:7:11: {TOPIC_HINT}"]


def test_a_name_far_from_anything_lists_the_topics_too(errors: Errors, orders_stub: Path) -> None:
    source = (
        "import ftl\nfrom ftl_modules import orders\n\n\n"
        "@ftl.subscribe(orders.shipments)\ndef on_order(event: orders.OrderPlaced) -> None:\n    pass\n"
    )
    assert errors(source, stubs=orders_stub) == [
        "shop/__init__.py:5:16: module orders has no verb or topic shipments "
        "(its exported verbs: place; its topics: orders)"
    ]


def test_an_unexported_topic_says_so(errors: Errors, orders_stub: Path) -> None:
    source = (
        "import ftl\nfrom ftl_modules import orders\n\n\n"
        "@ftl.subscribe(orders.audits)\ndef on_audit(event: orders.OrderPlaced) -> None:\n    pass\n"
    )
    assert errors(source, stubs=orders_stub) == [
        "shop/__init__.py:5:16: topic audits of module orders is not exported: declare it with "
        "`ftl.topic(..., export=True)` to use it from other modules"
    ]


def test_publishing_to_another_modules_topic_is_an_error_at_the_use(
    errors: Errors, orders_stub: Path
) -> None:
    source = (
        "import ftl\nfrom ftl_modules import orders\n\n\n"
        "@ftl.verb\ndef relay(event: orders.OrderPlaced) -> None:\n    orders.orders.publish(event)\n"
    )
    assert errors(source, stubs=orders_stub) == [
        "shop/__init__.py:7:5: topic orders.orders belongs to module orders: only it can publish there "
        "(call a verb of orders that publishes)"
    ]
