"""Server-sent events of the timeline, shared by the admin API and the console's live pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from ftl.devserver.timeline import Timeline, TimelineEvent

HEARTBEAT_SECONDS: Final = 15.0


async def timeline_events(
    timeline: Timeline,
    filters: dict[str, Any],
    backlog: int,
    encode: Callable[[TimelineEvent], bytes | None],
) -> AsyncIterator[bytes]:
    """One SSE message per matching event (`encode` gives its data, or None to skip it), and a
    comment now and then so that proxies and browsers keep the stream open."""
    with timeline.subscribe(**filters, backlog=backlog) as subscription:
        yield b": connected\n\n"
        while True:
            try:
                event = await asyncio.wait_for(subscription.next(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            data = encode(event)
            if data is not None:
                yield b"id: %d\ndata: %s\n\n" % (event.id, data)
