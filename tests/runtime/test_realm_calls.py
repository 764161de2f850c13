"""Calls to other realms: an HTTP POST to their ingress, each failure a typed CallFailed."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ftl.runtime._call_errors import CallFailed
from ftl.runtime._realm_calls import RealmCalls


@dataclass
class Balance:
    amount: int


# The path's last part picks the answer: (status, body).
ANSWERS: dict[str, tuple[int, bytes]] = {
    "ok": (200, b'{"amount": 10, "currency": "EUR"}'),
    "odd": (200, b'{"amount": "ten"}'),
    "ftl-error": (400, b'{"error": {"kind": "bad_request", "message": "insufficient funds"}}'),
    "future-kind": (409, b'{"error": {"kind": "conflict", "message": "try later"}}'),
    "proxy-404": (404, b"no such page"),
    "proxy-503": (503, b""),
    "crash": (500, b"<html>oops</html>"),
}


@pytest.fixture(scope="module")
def bank() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Bank(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, dict(self.headers), body))
            status, payload = ANSWERS[self.path.rsplit("/", 1)[1]]
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/base/", seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def port_nobody_listens_on() -> Iterator[int]:
    """Bound but not listening (so connecting is refused), and no other test can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def failure(calls: RealmCalls, verb: str, realm: str = "bank") -> CallFailed:
    with pytest.raises(CallFailed) as raised:
        calls.call("req-1", "balance", verb, realm, b"{}", Balance)
    return raised.value


def test_a_call_posts_to_the_realms_ingress_and_decodes_leniently(
    bank: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    base, seen = bank
    calls = RealmCalls("shop", {"bank": base})
    assert calls.call("req-7", "balance", "ok", "bank", b'{"id": 1}', Balance) == Balance(10)
    path, headers, body = seen[-1]
    assert (path, body) == ("/base/_ftl/realm/balance/ok", b'{"id": 1}')
    assert (headers["X-Ftl-Request-Id"], headers["X-Ftl-Caller-Realm"]) == ("req-7", "shop")
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("verb", "kind", "message"),
    [
        ("ftl-error", "bad_request", "balance.ftl-error@bank: insufficient funds"),
        ("future-kind", "verb_error", "balance.future-kind@bank: try later"),
        ("proxy-404", "not_found", "balance.proxy-404@bank: no such page"),
        ("proxy-503", "not_live", "balance.proxy-503@bank: HTTP 503"),
        ("crash", "verb_error", "balance.crash@bank: <html>oops</html>"),
    ],
)
def test_error_answers_keep_their_kind_or_get_one_from_the_status(
    bank: tuple[str, list[tuple[str, dict[str, str], bytes]]], verb: str, kind: str, message: str
) -> None:
    failed = failure(RealmCalls("shop", {"bank": bank[0]}), verb)
    assert (failed.kind, failed.message) == (kind, message)


def test_an_unexpected_response_is_internal(
    bank: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    failed = failure(RealmCalls("shop", {"bank": bank[0]}), "odd")
    assert failed.kind == "internal"
    assert failed.message.startswith("balance.odd@bank answered with an unexpected response: ")


def test_an_unknown_or_unreachable_realm_is_not_live() -> None:
    unknown = failure(RealmCalls("shop", {}), "ok")
    assert unknown.kind == "not_live"
    assert "set config `bank-realm-endpoint`" in unknown.message
    assert "FTL_REALM_ENDPOINT_BANK" in unknown.message

    with port_nobody_listens_on() as port:
        unreachable = failure(RealmCalls("shop", {"bank": f"http://127.0.0.1:{port}"}), "ok")
    assert unreachable.kind == "not_live"
    assert unreachable.message.startswith(f"realm bank at http://127.0.0.1:{port} is unreachable: ")
