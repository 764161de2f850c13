"""`AdminClient.stream_timeline`: server-sent events in, timeline events out (no server)."""

from __future__ import annotations

import json

import httpx

from ftl.cli.serve import format_event
from ftl.client import AdminClient
from ftl.devserver.sse import resync_message
from ftl.devserver.timeline import Skipped, TimelineEvent, event_to_json


def _message(event: TimelineEvent) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (event.id, json.dumps(event_to_json(event)).encode())


def test_a_resync_becomes_a_warning_where_the_events_were_lost() -> None:
    before = TimelineEvent(kind="log", time=1.0, module="m", message="before", id=3)
    after = TimelineEvent(kind="log", time=2.0, module="m", message="after", id=40)
    stream = b"".join(
        [
            b": connected\n\n",
            _message(before),
            b": keep-alive\n\n",
            resync_message(Skipped(count=36, first_id=4, last_id=39)),
            _message(after),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/timeline/stream" and request.url.params["backlog"] == "5"
        return httpx.Response(200, content=stream, headers={"Content-Type": "text/event-stream"})

    with AdminClient("http://admin", transport=httpx.MockTransport(handler)) as admin:
        got = list(admin.stream_timeline(backlog=5))

    assert [e.message for e in (got[0], got[2])] == ["before", "after"]
    notice = got[1]
    # Its id is the first lost one's: after everything printed before the gap, so `ftl logs -f` shows it.
    assert (notice.kind, notice.level, notice.id) == ("log", "warn", 4)
    assert (
        notice.message
        == "36 events (ids 4 to 39) skipped: this stream fell behind (the timeline still has them)"
    )
    assert notice.data == {"skipped": 36, "first_id": 4, "last_id": 39}
    assert "WARN" in format_event(notice) and "36 events (ids 4 to 39) skipped" in format_event(notice)


def test_one_lost_event_is_named_by_its_id() -> None:
    stream = resync_message(Skipped(count=1, first_id=9, last_id=9))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream, headers={"Content-Type": "text/event-stream"})

    with AdminClient("http://admin", transport=httpx.MockTransport(handler)) as admin:
        [notice] = admin.stream_timeline()
    assert notice.message.startswith("event 9 skipped: ")
