from __future__ import annotations

import pytest

from ftl.errors import FtlError
from ftl.realm import check_no_third_realm_leak, public_schema
from ftl.realm.external import validate_public_realm
from ftl.schema import ast, parse_schema, print_schema

SHOP = """realm shop {
  // Orders.
  module orders {
    +git "https://example.com/shop.git" "0123456789abcdef0123456789abcdef01234567"
    config apiUrl String
    secret apiKey String
    database postgres db
    data Unused {
      x Int
    }
    export realm data Order {
      id String
      lines [orders.Line]
      paid payments.Receipt?
    }
    data Line {
      sku String
    }
    export realm verb place(orders.Order) orders.Order
      +calls orders.audit
      +database uses orders.db
      +config orders.apiUrl
      +secrets orders.apiKey
    verb audit(Unit) Unit
    export verb internalOnly(Unit) Unit
  }
  module payments {
    export data Receipt {
      amount Int
    }
    export realm data Pair<T> {
      first T
    }
    export realm verb pair(payments.Pair<String>) Unit
  }
  module zzz {
    verb unrelated(Unit) Unit
  }
}
"""


def _names(schema: ast.Schema) -> dict[str, list[tuple[str, str]]]:
    [realm] = schema.realms
    return {m.name: [(d.kind, d.name) for d in m.decls] for m in realm.modules}


def test_roots_and_everything_they_reach_in_canonical_order() -> None:
    public = public_schema(parse_schema(SHOP), "shop")
    assert _names(public) == {
        "orders": [
            ("database", "db"),
            ("data", "Line"),
            ("data", "Order"),
            ("verb", "audit"),
            ("verb", "place"),
        ],
        "payments": [("data", "Pair"), ("data", "Receipt"), ("verb", "pair")],
    }


def test_configs_secrets_and_their_metadata_are_stripped() -> None:
    [realm] = public_schema(parse_schema(SHOP), "shop").realms
    place = realm.modules[0].decl("place")
    assert isinstance(place, ast.Verb)
    assert [m.kind for m in place.metadata] == ["calls", "database"]


def test_module_comments_stay_but_module_metadata_and_positions_go() -> None:
    [realm] = public_schema(parse_schema(SHOP, "shop.ftl"), "shop").realms
    orders = realm.modules[0]
    assert orders.comments == ("Orders.",)
    assert orders.metadata == ()
    assert all(getattr(node, "pos", ast.NO_POS) == ast.NO_POS for node in ast.walk(realm))


def test_the_output_does_not_depend_on_source_order() -> None:
    schema = parse_schema(SHOP)
    [realm] = schema.realms
    shuffled = ast.replace(
        realm,
        modules=tuple(ast.replace(m, decls=tuple(reversed(m.decls))) for m in reversed(realm.modules)),
    )
    assert public_schema(ast.Schema(realms=(shuffled,)), "shop") == public_schema(schema, "shop")


def test_a_realm_without_exports_is_an_empty_realm() -> None:
    assert public_schema(parse_schema("realm shop { module m { verb v(Unit) Unit } }"), "shop") == ast.Schema(
        realms=(ast.Realm(name="shop"),)
    )
    assert public_schema(ast.Schema(), "shop") == ast.Schema(realms=(ast.Realm(name="shop"),))


def test_exposing_a_third_realms_type_is_refused_at_the_reference() -> None:
    text = """realm shop {
  module orders {
    export realm data Order {
      rate fx.Rate@fx
    }
  }
}
external realm fx {
  module fx {
    export realm data Rate {
      r Float
    }
  }
}
"""
    with pytest.raises(FtlError) as caught:
        public_schema(parse_schema(text, "shop.ftl"), "shop")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (4, 12)
    assert "orders.Order exposes fx.Rate@fx" in diagnostic.message


def test_using_a_third_realm_privately_is_fine() -> None:
    text = """realm shop {
  module orders {
    export realm verb place(Unit) Unit
    verb pay(Unit) Unit
      +calls fx.convert@fx
  }
}
"""
    assert _names(public_schema(parse_schema(text), "shop")) == {"orders": [("verb", "place")]}


def test_check_no_third_realm_leak_on_a_fetched_schema() -> None:
    [realm] = parse_schema("realm bank { module b { export realm verb v(x.Y@z) Unit } }", "p.ftl").realms
    [leak] = check_no_third_realm_leak(realm)
    assert leak.pos is not None and leak.pos.filename == "p.ftl"


CALLS_ANOTHER_REALM = """realm shop {
  module checkout {
    export realm data Paid {
      ok Bool
    }
    export realm verb pay(Unit) checkout.Paid
      +calls balance.withdraw@bank, checkout.log
    export realm verb settle(Unit) Unit
      +calls balance.withdraw@bank
    verb log(Unit) Unit
  }
}
external realm bank {
  module balance {
    export realm verb withdraw(Unit) Unit
    export realm verb refund(Unit) Unit
  }
}
"""


def test_calls_into_other_realms_are_dropped_and_in_realm_calls_kept() -> None:
    public = public_schema(parse_schema(CALLS_ANOTHER_REALM, "shop.ftl"), "shop")
    text = print_schema(public)
    assert "@bank" not in text
    assert "      +calls checkout.log\n" in text
    [module] = public.realms[0].modules
    settle = module.decl("settle")
    assert isinstance(settle, ast.Verb) and settle.metadata == ()
    assert _names(public) == {
        "checkout": [("data", "Paid"), ("verb", "log"), ("verb", "pay"), ("verb", "settle")]
    }


def test_a_retry_catch_verb_in_another_realm_is_dropped_but_the_retry_kept() -> None:
    text = CALLS_ANOTHER_REALM.replace(
        "      +calls balance.withdraw@bank\n",
        "      +calls balance.withdraw@bank\n      +retry 3 1s catch balance.refund@bank\n",
    )
    printed = print_schema(public_schema(parse_schema(text), "shop"))
    assert "@bank" not in printed
    assert "    export realm verb settle(Unit) Unit\n      +retry 3 1s\n" in printed


def test_a_public_schema_without_other_realms_calls_reads_back_and_validates() -> None:
    text = print_schema(public_schema(parse_schema(CALLS_ANOTHER_REALM), "shop"))
    [realm] = parse_schema(text).realms
    assert check_no_third_realm_leak(realm) == []
    _, diagnostics = validate_public_realm(realm)
    assert diagnostics == []
    assert print_schema(public_schema(parse_schema(text), "shop")) == text


def test_another_realms_type_stays_refused_even_beside_a_dropped_call() -> None:
    text = CALLS_ANOTHER_REALM.replace(
        "      ok Bool\n", "      ok Bool\n      receipt balance.Receipt@bank\n"
    )
    with pytest.raises(FtlError) as caught:
        public_schema(parse_schema(text, "shop.ftl"), "shop")
    [diagnostic] = caught.value.diagnostics
    assert "checkout.Paid exposes balance.Receipt@bank" in diagnostic.message
    assert diagnostic.pos is not None and diagnostic.pos.line == 5
