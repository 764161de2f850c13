"""Logs and prints of user code become `log` events on the timeline.

Each event is linked to the verb call being served when it was written (the call context), so
the console shows a request's logs beside its calls.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from typing import Any, TextIO

from ftl.runtime import context as call_context
from ftl.runtime._event_queue import EventQueue
from ftl.runtime.protocol import EventRecord


def capture_output(events: EventQueue) -> None:
    """Route logging and print() into the timeline. Both streams are also written through to the
    runner's own output (its log file), line by line: events still queued when the process dies
    are lost, and the crash report quotes the end of that file."""
    root = logging.getLogger()
    root.addHandler(TimelineLogHandler(events, sys.__stderr__))
    if root.level == logging.WARNING:  # untouched default: show the module's info logs too
        root.setLevel(logging.INFO)
    sys.stdout = CapturedStream(events, "info", sys.__stdout__ or sys.stdout)
    sys.stderr = CapturedStream(events, "error", sys.__stderr__ or sys.stderr)


class TimelineLogHandler(logging.Handler):
    """Every log record becomes a `log` event linked to the request being served."""

    def __init__(self, events: EventQueue, copy_to: TextIO | None = None) -> None:
        super().__init__(logging.DEBUG)
        self._events = events
        self._copy_to = copy_to  # the runner's own output, quoted by crash reports
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._events.add(log_event(_level(record), message, record.created, {"logger": record.name}))
        if self._copy_to is not None:
            try:
                self._copy_to.write(f"{record.levelname} {record.name}: {message}\n")
                self._copy_to.flush()
            except (OSError, ValueError):  # a closed or broken stream must not break the verb
                pass


class CapturedStream(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr: each complete line becomes a `log` event."""

    def __init__(self, events: EventQueue, level: str, original: TextIO) -> None:
        self._events = events
        self._level = level
        self._original = original
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._original.encoding

    def write(self, text: str) -> int:
        self._original.write(text)
        if "\n" in text:
            self._original.flush()  # on disk before a crash can lose it
        pending: str = getattr(self._pending, "text", "") + text
        *lines, rest = pending.split("\n")
        self._pending.text = rest
        for line in lines:
            self._events.add(log_event(self._level, line, time.time(), {"stream": self._name}))
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            self._events.add(log_event(self._level, rest, time.time(), {"stream": self._name}))
        self._original.flush()

    @property
    def _name(self) -> str:
        return "stderr" if self._level == "error" else "stdout"


def log_event(level: str, message: str, at: float, data: dict[str, Any]) -> EventRecord:
    """A `log` event, linked to the verb call being served on this thread or task, if any."""
    context = call_context.current()
    if context is None:
        return EventRecord("log", at, level=level, message=message, data=data)
    return EventRecord("log", at, context.verb, context.request_id, None, level, message, data)


def _level(record: logging.LogRecord) -> str:
    """The timeline's name of a record's level: `warn` as FTL's own events say it, else lower case."""
    name = record.levelname.lower()
    return "warn" if name == "warning" else name
