"""The console's pages, rendered by Starlette's TestClient against a fake backplane and a real Timeline."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ftl.devserver.backplane import DeploymentInfo, FailedDeploy
from ftl.devserver.console import Console, console_routes
from ftl.devserver.console.formatting import hms
from ftl.devserver.timeline import Timeline, TimelineEvent

from .schemas import FakeBackplane, shop_project, shop_schema

STARTED = 1_700_000_000.0  # deployments
NOW = time.time()  # events: the timeline drops what is older than its max age


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
def backplane() -> FakeBackplane:
    return FakeBackplane(
        shop_schema(),
        [
            DeploymentInfo("dpl-shop-orders-old", "orders", "draining", "127.0.0.1:4001", STARTED - 60, 1),
            DeploymentInfo("dpl-shop-orders-new", "orders", "live", "127.0.0.1:4002", STARTED, 2),
            DeploymentInfo("dpl-shop-payments-1", "payments", "starting", "", STARTED + 5, 1),
        ],
        shop_project(),
    )


@pytest.fixture
def client(backplane: FakeBackplane, timeline: Timeline) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=console_routes(backplane, timeline))) as test_client:
        yield test_client


def rows(page: str) -> list[str]:
    """The ids of the timeline rows on a page, in order."""
    return re.findall(r'<tr class="event[^"]*" data-id="(\d+)"', page)


def call(module: str, verb: str, request_id: str, **extra: Any) -> TimelineEvent:
    return TimelineEvent(kind="call", time=NOW, module=module, verb=verb, request_id=request_id, **extra)


# -- modules --------------------------------------------------------------------------------------


def test_modules_page_lists_each_module_with_its_serving_deployment(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    orders = text[text.index('data-module="orders"') : text.index('data-module="payments"')]
    assert "dpl-shop-orders-new" in orders and "v2" in orders
    assert "127.0.0.1:4002" in orders
    assert 'class="state state-live"' in orders
    assert hms(STARTED) in orders
    assert "+1 older" in orders
    assert "Orders placed by customers." in orders
    payments = text[text.index('data-module="payments"') : text.index('data-module="shipping"')]
    assert "state-starting" in payments
    shipping = text[text.index('data-module="shipping"') :]
    assert "not deployed" in shipping
    # External realms' modules are on /realms, not here.
    assert 'data-module="bank"' not in text


def test_a_failed_deploy_shows_on_its_module_with_the_errors(
    backplane: FakeBackplane, client: TestClient
) -> None:
    backplane.failures["orders"] = FailedDeploy(
        "chs-0123456789ab",
        ("orders", "payments"),
        "the build failed",
        ("orders/orders/__init__.py:3:5: invalid syntax <here>",),
        STARTED + 30,
    )
    text = client.get("/").text
    orders = text[text.index('data-module="orders"') : text.index('data-module="payments"')]
    assert 'class="state state-live"' in orders  # the previous version still serves
    assert 'class="state state-deploy-failed"' in orders
    assert "the build failed" in orders and "chs-0123456789ab: orders, payments" in orders
    assert "orders/orders/__init__.py:3:5: invalid syntax &lt;here&gt;" in orders
    payments = text[text.index('data-module="payments"') : text.index('data-module="shipping"')]
    assert "deploy failed" not in payments


def test_a_module_that_never_deployed_but_failed_is_listed(
    backplane: FakeBackplane, client: TestClient
) -> None:
    backplane.failures["brand_new"] = FailedDeploy(
        "chs-0123456789ab", ("brand_new",), "the build failed", (), NOW
    )
    text = client.get("/").text
    row = text[text.index('data-module="brand_new"') : text.index('data-module="orders"')]
    assert "not deployed" in row and "deploy failed" in row


def test_modules_partial_is_only_the_table(client: TestClient) -> None:
    partial = client.get("/?partial=1").text
    assert "<table" in partial and "<html" not in partial


def test_modules_page_with_nothing_deployed(timeline: Timeline) -> None:
    from ftl.schema import ast

    with TestClient(Starlette(routes=console_routes(FakeBackplane(ast.Schema()), timeline))) as empty:
        assert "No modules are deployed yet" in empty.get("/").text


def test_module_page_shows_highlighted_schema_and_declarations(client: TestClient) -> None:
    page = client.get("/modules/orders")
    assert page.status_code == 200
    text = page.text
    assert '<span class="tok-kw">module</span> <span class="tok-decl">orders</span>' in text
    assert '<a class="tok-ref" href="/verbs/payments/charge">payments.charge</a>' in text
    assert '<a class="tok-ref" href="/realms#realm-bank">bank.transfer@bank</a>' in text
    for anchor in (
        "decl-place",
        "decl-listOrders",
        "decl-Order",
        "decl-Status",
        "decl-region",
        "decl-apiKey",
    ):
        assert f'id="{anchor}"' in text
    assert '<a href="/verbs/orders/place">place</a>' in text
    assert "(orders.Order) orders.Order" in text
    assert "dpl-shop-orders-old" in text and "dpl-shop-orders-new" in text


def test_unknown_module_and_verb_are_404_pages(client: TestClient) -> None:
    for path in ("/modules/nope", "/verbs/orders/nope", "/verbs/nope/place", "/modules/builtin"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text


# -- verbs ----------------------------------------------------------------------------------------


def test_verb_page_has_a_form_prefilled_from_the_request_type(client: TestClient) -> None:
    page = client.get("/verbs/orders/place")
    assert page.status_code == 200
    assert 'data-verb="orders.place"' in page.text
    textarea = re.search(r'<textarea id="call-body"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert textarea is not None
    assert json.loads(html.unescape(textarea[1])) == {
        "id": 0,
        "items": [{"sku": "", "qty": 0}],
        "status": "open",
    }
    assert "/api/call" in page.text
    assert '<span class="tok-kw">verb</span> <span class="tok-decl">place</span>' in page.text


def test_verb_page_accepts_the_python_spelling(client: TestClient) -> None:
    page = client.get("/verbs/orders/list_orders")
    assert page.status_code == 200
    assert 'data-verb="orders.listOrders"' in page.text


def test_verb_page_lists_recent_calls_of_that_verb_only(client: TestClient, timeline: Timeline) -> None:
    mine = timeline.add(
        call("orders", "place", "req-mine", data={"request": '{"id":1}', "response": '{"id":1}'})
    )
    timeline.add(call("orders", "listOrders", "req-other"))
    page = client.get("/verbs/orders/place").text
    assert rows(page) == [str(mine.id)]
    assert '{"id":1} → {"id":1}' in html.unescape(page)


# -- timeline -------------------------------------------------------------------------------------


def test_timeline_lists_newest_first_with_trace_links(client: TestClient, timeline: Timeline) -> None:
    first = timeline.add(call("orders", "place", "req-1", duration_ms=12.5))
    second = timeline.add(TimelineEvent(kind="log", time=NOW, module="orders", verb="place", message="hi"))
    page = client.get("/timeline").text
    assert rows(page) == [str(second.id), str(first.id)]
    assert 'data-href="/trace/req-1"' in page
    assert "12.5 ms" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=log", ["log-orders"]),
        ("module=payments", ["call-payments"]),
        ("module=orders&verb=place", ["log-orders", "call-orders"]),
        ("verb=charge", ["call-payments"]),
        ("request_id=req-b", ["call-payments"]),
        ("kind=call&module=orders", ["call-orders"]),
        ("kind=cron", []),
    ],
)
def test_timeline_filters(client: TestClient, timeline: Timeline, query: str, expected: list[str]) -> None:
    events = {
        "call-orders": timeline.add(call("orders", "place", "req-a")),
        "call-payments": timeline.add(call("payments", "charge", "req-b")),
        "log-orders": timeline.add(
            TimelineEvent(kind="log", time=NOW, module="orders", verb="place", request_id="req-a")
        ),
    }
    page = client.get(f"/timeline?{query}").text
    by_id = {str(event.id): name for name, event in events.items()}
    assert [by_id[i] for i in rows(page)] == expected
    # The live stream follows the same filters.
    assert re.search(r'data-live-rows="/timeline/live\?' + re.escape(query.replace("&", "&amp;")), page)


def test_timeline_pages_through_100k_events(client: TestClient, timeline: Timeline) -> None:
    timeline.add_many(call("orders", "place", f"req-{n}") for n in range(100_000))
    assert len(timeline) == 100_000
    first = client.get("/timeline").text
    ids = [int(i) for i in rows(first)]
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    assert ids[0] == 100_000
    older = re.search(r'id="older-link" href="([^"]+)"', first)
    assert older is not None
    second = client.get(html.unescape(older[1])).text
    next_ids = [int(i) for i in rows(second)]
    assert next_ids == list(range(ids[-1] - 1, ids[-1] - 101, -1))
    # An older page is not live: new events must not push into it.
    assert "data-live-rows" not in second
    last = client.get("/timeline?before_id=3").text
    assert [int(i) for i in rows(last)] == [2, 1]
    assert 'id="older-link"' not in last


def test_timeline_ignores_bad_numbers(client: TestClient, timeline: Timeline) -> None:
    timeline.add(call("orders", "place", "req-1"))
    page = client.get("/timeline?before_id=abc&limit=-5")
    assert page.status_code == 200
    assert len(rows(page.text)) == 1


def test_event_text_is_escaped(client: TestClient, timeline: Timeline) -> None:
    timeline.add(TimelineEvent(kind="log", time=NOW, module="orders", message="<script>alert(1)</script>"))
    page = client.get("/timeline").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_request_to_a_path_that_routes_nowhere_links_to_no_verb_page(
    client: TestClient, timeline: Timeline
) -> None:
    # A realm ingress request for `/_ftl/realm/accounts/balance/extra` is filed under its pieces.
    timeline.add(
        TimelineEvent(kind="ingress", time=NOW, module="accounts", verb="balance/extra", level="error")
    )
    timeline.add(call("orders", "place", "req-1"))
    page = client.get("/timeline").text
    assert "accounts.balance/extra" in page
    assert 'href="/verbs/accounts/' not in page
    assert 'href="/verbs/orders/place"' in page


def test_live_stream_replays_what_came_after_the_page_then_follows(
    backplane: FakeBackplane, timeline: Timeline
) -> None:
    console = Console(backplane, timeline)

    async def scenario() -> list[dict[str, object]]:
        seen = timeline.add(call("orders", "place", "req-seen"))
        missed = timeline.add(call("orders", "place", "req-missed"))
        timeline.add(call("payments", "charge", "req-filtered-out"))
        request = Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/timeline/live",
                "query_string": f"module=orders&after={seen.id}".encode(),
                "headers": [],
            }
        )
        response = await console.timeline_live(request)
        assert response.media_type == "text/event-stream"
        body = response.body_iterator  # type: ignore[attr-defined]
        messages = []
        try:
            assert await anext(body) == b": connected\n\n"
            messages.append(await anext(body))
            timeline.add(call("payments", "charge", "req-other-module"))
            later = timeline.add(call("orders", "listOrders", "req-later"))
            messages.append(await asyncio.wait_for(anext(body), 5))
        finally:
            await body.aclose()
        decoded = []
        for chunk in messages:
            text = chunk.decode() if isinstance(chunk, bytes) else str(chunk)
            event_id, data = text.strip().split("\n")
            payload = json.loads(data.removeprefix("data: "))
            assert event_id == f"id: {payload['id']}"
            decoded.append(payload)
        assert [d["id"] for d in decoded] == [missed.id, later.id]
        return decoded

    decoded = asyncio.run(scenario())
    assert '<tr class="event has-trace"' in str(decoded[0]["html"])
    assert "req-missed" in str(decoded[0]["html"])
    assert timeline.subscriber_count() == 0


def test_live_stream_after_zero_replays_from_the_start_and_without_after_only_follows(
    backplane: FakeBackplane, timeline: Timeline
) -> None:
    console = Console(backplane, timeline)

    async def first_row_id(query: str) -> int:
        scope = {"type": "http", "method": "GET", "path": "/timeline/live", "query_string": query.encode()}
        response = await console.timeline_live(Request({**scope, "headers": []}))
        body = response.body_iterator  # type: ignore[attr-defined]
        try:
            assert await anext(body) == b": connected\n\n"
            if not query:
                timeline.add(call("orders", "place", "req-new"))
            chunk = await asyncio.wait_for(anext(body), 5)
        finally:
            await body.aclose()
        text = chunk.decode() if isinstance(chunk, bytes) else str(chunk)
        return int(json.loads(text.split("data: ", 1)[1])["id"])

    # An empty page renders `after=0`: an event added before its stream connects is not lost.
    early = timeline.add(call("orders", "place", "req-early"))
    assert asyncio.run(first_row_id("after=0")) == early.id
    assert asyncio.run(first_row_id("")) == early.id + 1


# -- traces ---------------------------------------------------------------------------------------


def test_trace_nests_calls_and_logs_under_the_ingress(client: TestClient, timeline: Timeline) -> None:
    timeline.add_many(
        [
            TimelineEvent(
                kind="call",
                time=NOW + 0.001,
                module="orders",
                verb="place",
                request_id="req-t",
                duration_ms=8.0,
                data={"request": '{"id":1}', "response": '{"id":1}'},
            ),
            TimelineEvent(
                kind="call",
                time=NOW + 0.002,
                module="payments",
                verb="charge",
                request_id="req-t",
                duration_ms=2.0,
                data={"caller": "orders.place", "request": "{}"},
                level="error",
                message="card declined",
            ),
            TimelineEvent(
                kind="log",
                time=NOW + 0.003,
                module="orders",
                verb="place",
                request_id="req-t",
                level="info",
                message="charging",
            ),
            TimelineEvent(
                kind="ingress",
                time=NOW + 0.010,
                module="orders",
                verb="place",
                request_id="req-t",
                duration_ms=10.0,
                message="POST /orders 200",
                data={"method": "POST", "path": "/orders", "status": 200},
            ),
            call("orders", "place", "req-unrelated"),
        ]
    )
    page = client.get("/trace/req-t")
    assert page.status_code == 200
    spans = re.findall(r'<li class="span span-(\w+)[^"]*" style="--depth: (\d+)"', page.text)
    assert spans == [("ingress", "0"), ("call", "1"), ("call", "2"), ("log", "2")]
    assert "card declined" in page.text
    assert "is-error" in page.text
    assert "10.0 ms" in page.text
    assert "req-unrelated" not in page.text
    partial = client.get("/trace/req-t?partial=1").text
    assert "<html" not in partial and partial.count('<li class="span') == 4


def test_a_failed_call_shows_what_was_raised_where_and_its_traceback(
    client: TestClient, timeline: Timeline
) -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/work/shop/orders/__init__.py", line 12, in place\n'
        '    raise ValueError(f"<blink>{qty}</blink> & more")\n'
        "ValueError: <blink>0</blink> & more\n"
    )
    failed = {
        "request": "{}",
        "error_kind": "verb_error",
        "exception": "ValueError",
        "where": "/work/shop/orders/__init__.py:12",
        "traceback": traceback,
    }
    raised = "ValueError: <blink>0</blink> & more"
    timeline.add(call("orders", "place", "req-f", level="error", message=raised, data=failed))
    page = client.get("/trace/req-f").text
    detail = r'<span class="detail-label">(\w+)</span><pre[^>]*>(.*?)</pre>'
    details = dict(re.findall(detail, page, re.DOTALL))
    assert details["exception"] == "ValueError"
    assert details["where"] == "/work/shop/orders/__init__.py:12"
    assert html.unescape(details["traceback"]) == traceback
    assert "&lt;blink&gt;{qty}&lt;/blink&gt; &amp; more" in details["traceback"]
    assert "<blink>" not in page
    # Named, so not repeated in the catch-all `data` detail.
    assert "data" not in details


def test_trace_of_an_unknown_request_says_so(client: TestClient) -> None:
    page = client.get("/trace/req-gone")
    assert page.status_code == 200
    assert "No events with request id" in page.text
    assert 'data-live="/timeline/live?request_id=req-gone' in page.text


# -- graph and realms ----------------------------------------------------------------------------


def test_graph_page_renders_the_svg_and_its_edges(client: TestClient) -> None:
    page = client.get("/graph").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="module-graph"' in page
    for node in ("orders", "payments", "shipping", "bank@bank"):
        assert f'data-node="{node}"' in page
    assert 'class="edge edge-calls" data-source="orders" data-target="payments"' in page
    assert 'class="edge edge-calls" data-source="orders" data-target="bank@bank"' in page
    assert 'class="edge edge-subscribes" data-source="shipping" data-target="orders"' in page


def test_realms_page_shows_pins_and_exported_verbs(client: TestClient) -> None:
    page = client.get("/realms").text
    bank = page[page.index('id="realm-bank"') : page.index('id="realm-ledger"')]
    assert "https://***@git.example.com/bank.git" in bank
    assert "s3cret" not in page
    assert "0123456789ab" in bank and 'title="0123456789abcdef0123456789abcdef01234567"' in bank
    assert "bank.transfer@bank" in bank
    assert "(bank.Transfer) bank.Transfer" in bank
    ledger = page[page.index('id="realm-ledger"') :]
    assert "not loaded" in ledger


def test_realms_page_without_a_project(timeline: Timeline) -> None:
    backplane = FakeBackplane(shop_schema())
    with TestClient(Starlette(routes=console_routes(backplane, timeline))) as plain:
        page = plain.get("/realms").text
    assert 'id="realm-bank"' in page and "not loaded" not in page


# -- the console only reads ------------------------------------------------------------------------


def test_every_page_route_is_get_only(backplane: FakeBackplane, timeline: Timeline) -> None:
    for route in console_routes(backplane, timeline):
        if isinstance(route, Route):
            assert route.methods == {"GET", "HEAD"}, route.path
        else:
            assert isinstance(route, Mount) and route.path == "/static"


def test_posting_to_a_page_is_refused(client: TestClient) -> None:
    for path in ("/", "/timeline", "/verbs/orders/place", "/modules/orders"):
        assert client.post(path, json={}).status_code == 405


def test_static_files_are_served(client: TestClient) -> None:
    for path, kind in (
        ("/static/console.css", "text/css"),
        ("/static/console.js", "javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ):
        response = client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"], path


def test_pages_link_only_to_local_assets(client: TestClient) -> None:
    page = client.get("/").text
    assert re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page) == [
        "/static/favicon.svg",
        "/static/console.css",
        "/static/console.js",
    ]
