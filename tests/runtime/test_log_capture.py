"""Logs and prints become `log` events, linked to the call being served."""

from __future__ import annotations

import io
import logging
import threading

from ftl.runtime import context as call_context
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._log_capture import CapturedStream, TimelineLogHandler, log_event
from ftl.runtime.context import CallContext
from ftl.runtime.protocol import EventRecord


class Collected(EventQueue):
    def __init__(self) -> None:
        super().__init__()
        self.added: list[EventRecord] = []

    def add(self, event: EventRecord) -> None:
        self.added.append(event)


CONTEXT = CallContext("req-1", "svc", "shout", ("svc.shout",))


def test_a_log_event_is_linked_to_the_call_being_served() -> None:
    outside = log_event("info", "hello", 1.0, {})
    assert (outside.verb, outside.request_id, outside.message) == ("", "", "hello")
    token = call_context.enter(CONTEXT)
    try:
        inside = log_event("error", "boom", 2.0, {"stream": "stderr"})
    finally:
        call_context.leave(token)
    assert (inside.kind, inside.verb, inside.request_id, inside.level) == ("log", "shout", "req-1", "error")
    assert inside.data == {"stream": "stderr"}


def test_each_complete_line_is_an_event_and_the_rest_waits_for_a_flush() -> None:
    events, original = Collected(), io.StringIO()
    stream = CapturedStream(events, "info", original)
    stream.write("one\ntw")
    stream.write("o\nthr")
    assert [e.message for e in events.added] == ["one", "two"]
    stream.flush()
    assert [e.message for e in events.added] == ["one", "two", "thr"]
    assert all(e.data == {"stream": "stdout"} for e in events.added)
    # Also written through, so the runner's log (quoted by crash reports) has it.
    assert original.getvalue() == "one\ntwo\nthr"


def test_stderr_is_also_kept_and_partial_lines_are_per_thread() -> None:
    events, original = Collected(), io.StringIO()
    stream = CapturedStream(events, "error", original)
    stream.write("main ")
    other = threading.Thread(target=lambda: stream.write("thread line\n"))
    other.start()
    other.join()
    stream.write("line\n")
    assert [e.message for e in events.added] == ["thread line", "main line"]
    assert {e.data["stream"] for e in events.added} == {"stderr"}
    assert original.getvalue() == "main thread line\nline\n"


def test_log_records_keep_their_level_and_logger() -> None:
    events, copy = Collected(), io.StringIO()
    logger = logging.getLogger("test_log_capture")
    handler = TimelineLogHandler(events, copy)
    logger.addHandler(handler)
    try:
        token = call_context.enter(CONTEXT)
        try:
            logger.warning("careful with %s", "that")
        finally:
            call_context.leave(token)
    finally:
        logger.removeHandler(handler)
    [record] = events.added
    assert (record.level, record.message, record.request_id) == ("warn", "careful with that", "req-1")
    # Also in the runner's own output, which a crash report quotes (queued events die with it).
    assert copy.getvalue() == "WARNING test_log_capture: careful with that\n"
    assert record.data == {"logger": "test_log_capture"}
