"""What the pages show of an event, as data (`ftl.devserver.console.views`)."""

from __future__ import annotations

from ftl.devserver.console.views import event_details
from ftl.devserver.timeline import TimelineEvent


def test_a_failed_calls_details_name_the_exception_and_where_before_its_traceback() -> None:
    failed = TimelineEvent(
        kind="call",
        time=1.0,
        module="orders",
        verb="place",
        level="error",
        data={
            "traceback": "File \"/p/orders/__init__.py\", line 3\nKeyError: 'id'\n",
            "where": "/p/orders/__init__.py:3",
            "exception": "KeyError",
            "request": '{"id":1}',
            "error_kind": "verb_error",
            "retry": 2,
        },
    )
    assert event_details(failed) == [
        ("request", '{\n  "id": 1\n}'),
        ("error_kind", "verb_error"),
        ("exception", "KeyError"),
        ("where", "/p/orders/__init__.py:3"),
        ("traceback", "File \"/p/orders/__init__.py\", line 3\nKeyError: 'id'\n"),
        ("data", '{\n  "retry": 2\n}'),
    ]
