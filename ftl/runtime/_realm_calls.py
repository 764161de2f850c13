"""Calls to verbs of external realms: an HTTP POST to that realm's ingress.

    POST <endpoint>/_ftl/realm/<module>/<verb>    X-Ftl-Request-Id, X-Ftl-Caller-Realm

A 200 carries the FTL-JSON response; any other status carries `{"error": {"kind", "message"}}`
(or, from something that is not an FTL ingress, anything at all: its status picks the kind).

Such a call never passes through this realm's backplane, so the caller records it: a `call`
event named `module.verb@realm`, under the calling verb (`data["caller"]`) and its request id.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from ftl.runtime._call_errors import CallFailed
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._serving import MAX_BODY_IN_TIMELINE
from ftl.runtime._wire import decode_response
from ftl.runtime.protocol import ERROR_KINDS, ErrorKind, EventRecord, error_kind

REALM_CALL_TIMEOUT_S = 60.0

_STATUS_KINDS: dict[int, ErrorKind] = {400: "bad_request", 403: "denied", 404: "not_found", 503: "not_live"}


class RealmCalls:
    """Makes calls to external realms on behalf of `own_realm`; `endpoints`: realm -> base URL.
    Each call is recorded in `events` when given."""

    def __init__(
        self, own_realm: str, endpoints: Mapping[str, str], *, events: EventQueue | None = None
    ) -> None:
        self._own_realm = own_realm
        self._endpoints = endpoints
        self._events = events

    def call(
        self,
        request_id: str,
        module: str,
        verb: str,
        realm: str,
        body: bytes,
        response_type: Any,
        *,
        caller: str = "",
    ) -> Any:
        """The decoded response of `module.verb@realm`; CallFailed on any failure. Blocks.
        `caller` is the calling verb, `module.verb`."""
        started, clock = time.time(), time.perf_counter()
        payload = b""
        try:
            payload = self._post(request_id, module, verb, realm, body)
            result = decode_response(module, verb, payload, response_type, realm=realm, lenient=True)
        except CallFailed as failed:
            self._record(started, clock, request_id, caller, module, verb, realm, body, payload, failed)
            raise
        self._record(started, clock, request_id, caller, module, verb, realm, body, payload, None)
        return result

    def _post(self, request_id: str, module: str, verb: str, realm: str, body: bytes) -> bytes:
        """The body of a 200 answer; CallFailed for anything else."""
        base = self._endpoints.get(realm)
        if not base:
            raise CallFailed(
                "not_live",
                f"no endpoint for realm {realm}: set config `{realm}-realm-endpoint` in ftl-project.toml "
                f"or env FTL_REALM_ENDPOINT_{realm.upper()}",
            )
        url = urllib.parse.urlsplit(base)
        path = f"{url.path.rstrip('/')}/_ftl/realm/{module}/{verb}"
        connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(url.netloc, timeout=REALM_CALL_TIMEOUT_S)
        headers = {
            "Content-Type": "application/json",
            "X-Ftl-Request-Id": request_id,
            "X-Ftl-Caller-Realm": self._own_realm,
        }
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError as exc:
            raise CallFailed("not_live", f"realm {realm} at {base} is unreachable: {exc}") from None
        finally:
            connection.close()
        if response.status == 200:
            return payload
        kind, message = _realm_error(response.status, payload)
        raise CallFailed(kind, f"{module}.{verb}@{realm}: {message}")

    def _record(
        self,
        started: float,
        clock: float,
        request_id: str,
        caller: str,
        module: str,
        verb: str,
        realm: str,
        body: bytes,
        payload: bytes,
        failed: CallFailed | None,
    ) -> None:
        if self._events is None:
            return
        duration_ms = (time.perf_counter() - clock) * 1000
        # `module` and `realm` name the callee: the backplane files the event under that module.
        data: dict[str, Any] = {"module": module, "realm": realm, "request": _text(body)}
        if caller:
            data["caller"] = caller
        if failed is None:
            data["response"] = _text(payload)
            level, message = "info", ""
        else:
            data["error_kind"] = failed.kind
            level, message = "error", failed.message.removeprefix(f"{module}.{verb}@{realm}: ")
        target = f"{verb}@{realm}"
        self._events.add(EventRecord("call", started, target, request_id, duration_ms, level, message, data))


def _text(body: bytes) -> str:
    return body[:MAX_BODY_IN_TIMELINE].decode("utf-8", "replace")


def _realm_error(status: int, payload: bytes) -> tuple[ErrorKind, str]:
    try:
        error = msgspec.json.decode(payload)["error"]
        kind, message = str(error["kind"]), str(error["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        kind, message = "", payload[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if kind in ERROR_KINDS:
        return error_kind(kind), message
    return _STATUS_KINDS.get(status, "verb_error"), message
