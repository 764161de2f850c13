"""Server-sent events of the timeline, shared by the admin API and the console's live pages.

Each matching event is a message with its id. A reader that falls too far behind loses its oldest
unread events; where that happened the stream sends `event: resync` with
`{"skipped": N, "first_id": A, "last_id": B}`, so that a page can fetch again what it missed (the
timeline still has those events).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from ftl.devserver.timeline import Skipped, Timeline, TimelineEvent

HEARTBEAT_SECONDS: Final = 15.0
RESYNC_EVENT: Final = "resync"


async def timeline_events(
    timeline: Timeline,
    filters: dict[str, Any],
    backlog: int,
    encode: Callable[[TimelineEvent], bytes | None],
) -> AsyncIterator[bytes]:
    """One SSE message per matching event (`encode` gives its data, or None to skip it), a resync
    message where events were lost, and a comment now and then so that proxies and browsers keep
    the stream open."""
    with timeline.subscribe(**filters, backlog=backlog) as subscription:
        yield b": connected\n\n"
        while True:
            try:
                item = await asyncio.wait_for(subscription.next(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return  # the server stops: end the response instead of being cancelled mid-stream
            if isinstance(item, Skipped):
                yield resync_message(item)
                continue
            data = encode(item)
            if data is not None:
                yield b"id: %d\ndata: %s\n\n" % (item.id, data)


def resync_message(skipped: Skipped) -> bytes:
    data = {"skipped": skipped.count, "first_id": skipped.first_id, "last_id": skipped.last_id}
    return b"event: %s\ndata: %s\n\n" % (RESYNC_EVENT.encode(), json.dumps(data).encode())
