"""Schema text highlighting: tokens get classes, text stays exactly the same, nothing is unescaped."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from ftl.devserver.console.highlight import highlight_schema
from ftl.schema import print_schema

from .schemas import shop_schema


def tokens(markup: str) -> list[tuple[str, str]]:
    found = re.findall(r'class="tok-([\w-]+)"(?: href="[^"]*")?>([^<]*)<', markup)
    return [(kind, html.unescape(text)) for kind, text in found]


def plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_declaration_heads_fields_and_metadata() -> None:
    text = (
        "// Orders.\n"
        "module orders {\n"
        "  export data Order<T> {\n"
        "    data [String]\n"
        "    when Time?\n"
        '    name String +alias json "n"\n'
        "  }\n"
        "  export realm verb place(orders.Order<Int>) Unit\n"
        "    +calls payments.charge, bank.transfer@bank\n"
        "    +retry 3 1s 1m30s\n"
        "  database postgres main\n"
        '    +sql query one "SELECT 1"\n'
        "}"
    )
    found = tokens(str(highlight_schema(text)))
    assert found[:3] == [("comment", "// Orders."), ("kw", "module"), ("decl", "orders")]
    assert ("kw", "export") in found and ("kw", "data") in found and ("decl", "Order") in found
    # A field named like a keyword is still a field.
    assert ("field", "data") in found
    assert ("prim", "String") in found and ("prim", "Time") in found
    assert ("meta", "+alias") in found and ("string", '"n"') in found
    assert ("decl", "place") in found and ("ref", "orders.Order") in found
    assert ("ref", "payments.charge") in found and ("ref", "bank.transfer@bank") in found
    assert ("meta", "+retry") in found and ("number", "1m30s") in found
    assert ("kw", "database") in found and ("kw", "postgres") in found and ("decl", "main") in found
    assert ("meta", "+sql query") in found


def test_refs_become_links_when_the_linker_knows_them() -> None:
    markup = str(highlight_schema("verb a(x.Y) x.Z", lambda ref: "/y" if ref == "x.Y" else None))
    assert '<a class="tok-ref" href="/y">x.Y</a>' in markup
    assert '<span class="tok-ref">x.Z</span>' in markup


def test_printed_schema_round_trips_through_the_markup() -> None:
    text = print_schema(shop_schema())
    assert plain(str(highlight_schema(text))) == text


@given(st.text())
def test_any_text_highlights_to_the_same_text_with_nothing_unescaped(text: str) -> None:
    markup = str(highlight_schema(text))
    assert plain(markup) == text
    stripped = re.sub(r'</?(span|a)( class="tok-[\w-]+")?>', "", markup)
    assert "<" not in stripped and ">" not in stripped
