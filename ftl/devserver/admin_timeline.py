"""The admin API's timeline query parameters (`?kind= &module= &verb= &request_id= &since= &until=
&with_errors= &before_id= &limit= &backlog=`) parsed into `Timeline.query` filters; a bad one is a
`ValueError` that says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MAX_TIMELINE_PAGE: Final = 1000
DEFAULT_TIMELINE_PAGE: Final = 100


def optional_int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {text!r}") from None


def optional_count(text: str | None, name: str) -> int | None:
    """A number of events: absent, or an integer from 0 up (0 asks for none)."""
    count = optional_int(text, name)
    if count is not None and count < 0:
        raise ValueError(f"{name} must be 0 or more, not {count}")
    return count


def _optional_float(text: str | None, name: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number (unix seconds), not {text!r}") from None


def timeline_filters(params: Mapping[str, str]) -> dict[str, Any]:
    filters: dict[str, Any] = {
        name: params.get(name) or None for name in ("kind", "module", "verb", "request_id")
    }
    filters["since"] = _optional_float(params.get("since"), "since")
    filters["until"] = _optional_float(params.get("until"), "until")
    if params.get("with_errors") not in (None, "", "0", "1"):
        raise ValueError("with_errors must be 1 or 0")
    if params.get("with_errors") == "1":
        filters["with_errors"] = True
    return filters
