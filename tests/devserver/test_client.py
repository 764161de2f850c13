"""The admin API client and the CLI's rendering helpers, without a server."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx
import pytest

from ftl.cli.serve import call_failure_message, format_columns, format_event, in_time_order
from ftl.client import AdminClient, AdminError, BackplaneUnavailable, CallOutcome, resolve_endpoint
from ftl.devserver.timeline import TimelineEvent, event_to_json
from ftl.verb_failures import display_place, raised_summary, relative_traceback


def test_endpoint_discovery_flag_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside any project: no server there to find
    assert resolve_endpoint(None, {}) == "http://127.0.0.1:8892"
    assert resolve_endpoint(None, {"FTL_ENDPOINT": "http://10.0.0.1:9/"}) == "http://10.0.0.1:9"
    assert resolve_endpoint("127.0.0.1:7", {"FTL_ENDPOINT": "http://x:1"}) == "http://127.0.0.1:7"


def _client(handler: object) -> AdminClient:
    return AdminClient("http://admin", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_call_outcomes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        if payload["verb"] == "a.ok":
            return httpx.Response(200, json={"request_id": "req-1", "body": {"x": 1}})
        error = {"kind": "not_found", "message": "unknown verb a.nop", "suggestions": ["a.ok"]}
        return httpx.Response(404, json={"request_id": "", "error": error})

    with _client(handler) as admin:
        assert admin.call("a.ok", {"y": 2}) == CallOutcome("req-1", {"x": 1})
        failed = admin.call("a.nop")
    assert failed.error is not None and failed.error.suggestions == ["a.ok"]
    assert call_failure_message(failed) == "unknown verb a.nop (did you mean a.ok?)"


def test_api_errors_carry_the_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"kind": "not_found", "message": "unknown module zz"}})

    with _client(handler) as admin, pytest.raises(AdminError, match="unknown module zz"):
        admin.schema_text(["zz"])


def test_timeline_events_decode() -> None:
    event = TimelineEvent(kind="log", time=1.0, module="m", message="hi", id=3)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["module"] == "m" and request.url.params["limit"] == "5"
        return httpx.Response(200, json=[event_to_json(event)])

    with _client(handler) as admin:
        assert admin.timeline(module="m", limit=5) == [event]


def test_no_backplane_listening_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    with AdminClient(endpoint) as admin, pytest.raises(BackplaneUnavailable) as raised:
        admin.status()
    assert str(raised.value) == f"no backplane at {endpoint} (start one with ftl dev or ftl serve)"


def test_rendering_helpers() -> None:
    assert format_columns([("A", "BB"), ("ccc", "d")]) == ["A    BB", "ccc  d"]
    line = format_event(
        TimelineEvent(
            kind="log", time=0.5, module="m", verb="v", request_id="req-1", level="info", message="hi"
        )
    )
    assert line.endswith(".500 INFO  m.v req-1 hi")


def test_a_raised_verb_error_names_the_exception_and_the_users_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "orders" / "orders" / "__init__.py"
    error = {
        "kind": "verb_error",
        "message": "bad name x",
        "exception": "ValueError",
        "where": f"{source}:38",
        "traceback": f'Traceback (most recent call last):\n  File "{source}", line 38, in check\n',
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"request_id": "req-2", "error": error})

    with _client(handler) as admin:
        outcome = admin.call("orders.boom", {"name": "x"})
    assert outcome.error is not None and outcome.error.exception == "ValueError"
    expected = "orders.boom raised ValueError: bad name x (orders/orders/__init__.py:38)"
    assert call_failure_message(outcome, "orders.boom") == expected
    assert 'File "orders/orders/__init__.py", line 38' in relative_traceback(outcome.error.traceback)
    # A message that only repeats the type, and a place the runner could not tell, are left out.
    assert raised_summary("RuntimeError", "RuntimeError", "") == "RuntimeError"
    assert display_place("<unknown>") == "<unknown>"


def test_call_events_say_how_they_ended_and_failed_ones_show_their_traceback() -> None:
    ok = TimelineEvent(
        kind="call", time=0.5, module="m", verb="v", request_id="r", level="info", duration_ms=1
    )
    assert format_event(ok).endswith(".500 INFO  m.v r call ok (1.0 ms)")
    failed = TimelineEvent(
        kind="call",
        time=0.5,
        module="m",
        verb="v",
        request_id="r",
        level="error",
        message="bad",
        duration_ms=2,
        data={
            "exception": "ValueError",
            "where": "/elsewhere/m.py:3",
            "traceback": "Traceback:\nValueError: bad\n",
        },
    )
    first, *below = format_event(failed).splitlines()
    assert re.search(
        r"\.500 ERROR m\.v r call failed: ValueError: bad \(\S*elsewhere/m\.py:3\) \(2\.0 ms\)$", first
    )
    assert below == ["    Traceback:", "    ValueError: bad"]
    refused = TimelineEvent(kind="call", time=0.5, module="m", verb="v", level="error", message="not live")
    assert format_event(refused).endswith(" ERROR m.v call failed: not live")


def test_events_are_listed_by_time_then_arrival() -> None:
    late = TimelineEvent(kind="call", time=1.0, id=7)
    early = TimelineEvent(kind="ingress", time=2.0, id=5)
    tie = TimelineEvent(kind="log", time=1.0, id=8)
    assert in_time_order([early, tie, late]) == [late, tie, early]
