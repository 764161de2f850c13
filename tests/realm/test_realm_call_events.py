"""The calling side of a cross-realm call records it: a `call` event named `module.verb@realm` under
the calling verb and its request id, with the duration and any error (a real HTTP server plays the
other realm's ingress)."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ftl.runtime import context as call_context
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._outgoing import OutgoingCalls
from ftl.runtime._realm_calls import RealmCalls
from ftl.runtime.context import CallContext
from ftl.runtime.protocol import EventRecord, Routes


@dataclass
class Receipt:
    balance: int


@dataclass
class Withdraw:
    amount: int


ANSWERS: dict[str, tuple[int, bytes]] = {
    "withdraw": (200, b'{"balance": 70}'),
    "refuse": (400, b'{"error": {"kind": "verb_error", "message": "insufficient funds"}}'),
}


@pytest.fixture(scope="module")
def bank() -> Iterator[str]:
    class Ingress(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status, payload = ANSWERS[self.path.rsplit("/", 1)[1]]
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingress)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sent(queue: EventQueue) -> list[EventRecord]:
    """What the queue sends once the runner's loop starts it."""
    records: list[EventRecord] = []

    async def start() -> None:
        queue.start(asyncio.get_running_loop(), records.extend)

    asyncio.run(start())
    return records


def test_a_successful_call_is_recorded_under_its_caller(bank: str) -> None:
    queue = EventQueue()
    calls = RealmCalls("shop", {"bank": bank}, events=queue)
    receipt = calls.call(
        "req-1", "balance", "withdraw", "bank", b'{"amount": 30}', Receipt, caller="checkout.checkout"
    )
    assert receipt == Receipt(70)
    [event] = sent(queue)
    assert (event.kind, event.verb, event.request_id, event.level, event.message) == (
        "call",
        "withdraw@bank",
        "req-1",
        "info",
        "",
    )
    assert event.data == {
        "module": "balance",
        "realm": "bank",
        "caller": "checkout.checkout",
        "request": '{"amount": 30}',
        "response": '{"balance": 70}',
    }
    assert event.duration_ms is not None and event.duration_ms >= 0


def test_a_failed_call_is_recorded_with_its_error(bank: str) -> None:
    queue = EventQueue()
    calls = RealmCalls("shop", {"bank": bank}, events=queue)
    with pytest.raises(CallFailed) as raised:
        calls.call("req-2", "balance", "refuse", "bank", b"{}", Receipt, caller="checkout.checkout")
    assert raised.value.message == "balance.refuse@bank: insufficient funds"
    [event] = sent(queue)
    assert (event.verb, event.request_id, event.level, event.message) == (
        "refuse@bank",
        "req-2",
        "error",
        "insufficient funds",
    )
    assert event.data["error_kind"] == "verb_error" and "response" not in event.data


def test_a_realm_without_endpoint_or_unreachable_is_recorded_as_not_live() -> None:
    queue = EventQueue()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
        endpoints = {"bank": f"http://127.0.0.1:{sock.getsockname()[1]}"}
        calls = RealmCalls("shop", endpoints, events=queue)
        for realm in ("bank", "fx"):
            with pytest.raises(CallFailed):
                calls.call("req-3", "balance", "withdraw", realm, b"{}", Receipt, caller="checkout.pay")
    events = sent(queue)
    assert [(e.verb, e.level, e.data["error_kind"]) for e in events] == [
        ("withdraw@bank", "error", "not_live"),
        ("withdraw@fx", "error", "not_live"),
    ]
    assert "set config `fx-realm-endpoint`" in events[1].message


def test_without_an_event_queue_nothing_is_recorded(bank: str) -> None:
    calls = RealmCalls("shop", {"bank": bank})
    assert calls.call("req-4", "balance", "withdraw", "bank", b"{}", Receipt) == Receipt(70)


def test_outgoing_calls_name_the_calling_verb_from_sync_and_async_verbs(bank: str) -> None:
    queue = EventQueue()

    async def run() -> None:
        outgoing = OutgoingCalls("checkout", RealmCalls("shop", {"bank": bank}, events=queue))
        outgoing.use_routes(Routes(1, {}, {"checkout": ["balance.withdraw@bank"]}))
        context = CallContext("req-5", "checkout", "checkout", ("checkout.checkout",))
        token = call_context.enter(context)
        try:
            answer = await outgoing.call_async("balance", "withdraw", Withdraw(30), Receipt, "bank")
            blocking = await asyncio.to_thread(
                outgoing.call, "balance", "withdraw", Withdraw(1), Receipt, "bank"
            )
        finally:
            call_context.leave(token)
        assert answer == blocking == Receipt(70)

    asyncio.run(run())
    events = sent(queue)
    assert [(e.verb, e.request_id, e.data["caller"], e.data["request"]) for e in events] == [
        ("withdraw@bank", "req-5", "checkout.checkout", '{"amount":30}'),
        ("withdraw@bank", "req-5", "checkout.checkout", '{"amount":1}'),
    ]
