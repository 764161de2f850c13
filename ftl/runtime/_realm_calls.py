"""Calls to verbs of external realms: an HTTP POST to that realm's ingress.

    POST <endpoint>/_ftl/realm/<module>/<verb>    X-Ftl-Request-Id, X-Ftl-Caller-Realm

A 200 carries the FTL-JSON response; any other status carries `{"error": {"kind", "message"}}`
(or, from something that is not an FTL ingress, anything at all: its status picks the kind).
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from ftl.runtime._call_errors import CallFailed
from ftl.runtime.encoding import DecodeError, decode
from ftl.runtime.protocol import ERROR_KINDS, ErrorKind, error_kind

REALM_CALL_TIMEOUT_S = 60.0

_STATUS_KINDS: dict[int, ErrorKind] = {400: "bad_request", 403: "denied", 404: "not_found", 503: "not_live"}


class RealmCalls:
    """Makes calls to external realms on behalf of `own_realm`; `endpoints`: realm -> base URL."""

    def __init__(self, own_realm: str, endpoints: Mapping[str, str]) -> None:
        self._own_realm = own_realm
        self._endpoints = endpoints

    def call(
        self, request_id: str, module: str, verb: str, realm: str, body: bytes, response_type: Any
    ) -> Any:
        """The decoded response of `module.verb@realm`; CallFailed on any failure. Blocks."""
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
        target = f"{module}.{verb}@{realm}"
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError as exc:
            raise CallFailed("not_live", f"realm {realm} at {base} is unreachable: {exc}") from None
        finally:
            connection.close()
        if response.status == 200:
            try:
                return decode(payload, response_type, lenient=True, root="response")
            except DecodeError as exc:
                raise CallFailed(
                    "internal", f"{target} answered with an unexpected response: {exc}"
                ) from None
        kind, message = _realm_error(response.status, payload)
        raise CallFailed(kind, f"{target}: {message}")


def _realm_error(status: int, payload: bytes) -> tuple[ErrorKind, str]:
    try:
        error = msgspec.json.decode(payload)["error"]
        kind, message = str(error["kind"]), str(error["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        kind, message = "", payload[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if kind in ERROR_KINDS:
        return error_kind(kind), message
    return _STATUS_KINDS.get(status, "verb_error"), message
