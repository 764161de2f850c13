"""Small text formatters the templates use as Jinja filters (times, durations, JSON, ids)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["FILTERS", "ago", "clock", "hms", "is_name", "iso_time", "millis", "pretty_json", "short_id"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def clock(unix: float | None) -> str:
    """`14:03:07.123` in local time."""
    if not unix:
        return ""
    moment = datetime.fromtimestamp(unix)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def hms(unix: float | None) -> str:
    """`14:03:07` in local time."""
    return datetime.fromtimestamp(unix).strftime("%H:%M:%S") if unix else ""


def iso_time(unix: float | None) -> str:
    """RFC 3339 in UTC, for `<time datetime>` and tooltips."""
    if not unix:
        return ""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(unix: float | None, now: float | None = None) -> str:
    """A short, coarse age: `4s ago`, `12m ago`, `3h ago`, `2d ago`."""
    if not unix:
        return ""
    seconds = max(0.0, (time.time() if now is None else now) - unix)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def millis(duration_ms: float | None) -> str:
    """`0.42 ms`, `12.3 ms`, `153 ms`, `2.31 s`; "" when unknown."""
    if duration_ms is None:
        return ""
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    if duration_ms >= 100:
        return f"{duration_ms:.0f} ms"
    if duration_ms >= 10:
        return f"{duration_ms:.1f} ms"
    return f"{duration_ms:.2f} ms"


def pretty_json(value: Any) -> str:
    """Indented JSON; a string that holds JSON (as call events keep bodies) is parsed first."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def is_name(text: str | None) -> bool:
    """Whether `text` can name a module or verb: only those get links (a request to a path that
    routes nowhere is recorded under the path's own pieces)."""
    return bool(text) and _NAME.fullmatch(text or "") is not None


def short_id(request_id: str) -> str:
    """`req-4f3a…` style: enough to tell requests apart in a table."""
    return request_id if len(request_id) <= 12 else request_id[:12] + "…"


FILTERS = {
    "clock": clock,
    "hms": hms,
    "iso_time": iso_time,
    "ago": ago,
    "millis": millis,
    "pretty_json": pretty_json,
    "short_id": short_id,
}

TESTS = {"name": is_name}
