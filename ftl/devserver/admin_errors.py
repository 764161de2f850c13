"""The admin API's error answer: `{"error": {"kind", "message"}}` as JSON, with `request_id`
(and `suggestions`) on calls and `exception`, `where`, `traceback` when the verb raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


def error_response(
    status: int,
    kind: str,
    message: str,
    *,
    request_id: str | None = None,
    suggestions: list[str] | None = None,
    raised: Mapping[str, str] | None = None,
) -> JSONResponse:
    """`{"error": {"kind", "message"}}`, with `request_id` (and `suggestions`) for calls.

    `raised` adds what a verb that raised tells its developer: `exception`, `where`, `traceback`.
    """
    error: dict[str, Any] = {"kind": kind, "message": message}
    if suggestions is not None:
        error["suggestions"] = suggestions
    if raised:
        error.update(raised)
    body: dict[str, Any] = (
        {"error": error} if request_id is None else {"request_id": request_id, "error": error}
    )
    return JSONResponse(body, status_code=status)
