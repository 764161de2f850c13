"""What a verb's failure tells its caller: the exception's type, the user's line, a traceback
without FTL's frames; and how that travels in an error reply's body."""

from __future__ import annotations

import inspect
import json
import traceback
from collections.abc import Callable

from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.runtime._call_errors import (
    MAX_TRACEBACK_CHARS,
    CallFailed,
    VerbFailure,
    decode_failure,
    encode_failure,
    user_traceback,
    verb_failure,
)
from ftl.runtime.protocol import split_endpoint


def _line_of(func: Callable[..., object], text: str) -> int:
    lines, first = inspect.getsourcelines(func)
    return first + next(n for n, line in enumerate(lines) if text in line)


def _raised(func: Callable[[], object]) -> BaseException:
    try:
        func()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def parse_bad_json() -> object:
    return json.loads("{nope")  # the stdlib raises; the user's line is this one


def test_the_innermost_user_line_skips_the_stdlib_frames() -> None:
    failure = verb_failure(_raised(parse_bad_json))
    assert failure.exception == "JSONDecodeError"
    assert failure.where == f"{__file__}:{_line_of(parse_bad_json, 'json.loads')}"
    # The traceback keeps the library frames the user's call went through.
    assert "json/decoder.py" in failure.traceback.replace("\\", "/")


def test_a_failed_outgoing_call_is_named_as_users_catch_it() -> None:
    def call_other() -> None:
        raise CallFailed("verb_error", "other exploded")

    failure = verb_failure(_raised(call_other))
    assert failure.exception == "FtlCallError"
    assert failure.where == f"{__file__}:{_line_of(call_other, 'raise CallFailed')}"


def test_ftl_frames_leave_the_traceback_but_chained_causes_stay() -> None:
    def clock() -> float:
        try:
            return {"now": 1.0}["later"]
        except KeyError as missing:
            raise ValueError("no time") from missing

    timeline = Timeline(clock=clock)  # FTL code that calls back into the user's
    exc = _raised(lambda: timeline.add(TimelineEvent(kind="log", time=0)))
    text = user_traceback(exc)
    assert "KeyError: 'later'" in text and "The above exception was the direct cause" in text
    assert "in clock" in text and text.endswith("ValueError: no time\n")
    assert "timeline.py" not in text and "timeline.py" in "".join(traceback.format_exception(exc))
    assert verb_failure(exc).where == f"{__file__}:{_line_of(clock, 'raise ValueError')}"


def test_a_traceback_with_only_ftl_frames_is_kept_whole() -> None:
    exc = _raised(lambda: split_endpoint("no port"))
    assert exc.__traceback__ is not None and exc.__traceback__.tb_next is not None
    inside_ftl = exc.with_traceback(exc.__traceback__.tb_next.tb_next)  # FTL raised on its own
    assert "protocol.py" in user_traceback(inside_ftl)


def _ping(depth: int) -> None:
    if depth == 0:
        raise ValueError("bottom")
    _pong(depth - 1)


def _pong(depth: int) -> None:
    _ping(depth - 1)


def test_a_huge_traceback_keeps_its_end() -> None:
    text = user_traceback(_raised(lambda: _ping(600)))
    assert len(text) <= MAX_TRACEBACK_CHARS + 100
    assert text.startswith("(earlier lines cut)") and text.endswith("ValueError: bottom\n")


def test_failures_travel_as_json_and_anything_else_decodes_to_nothing() -> None:
    failure = VerbFailure("ValueError", "/p/m.py:3", "Traceback ...\n")
    assert decode_failure(encode_failure(failure)) == failure
    assert json.loads(encode_failure(VerbFailure("ValueError"))) == {"exception": "ValueError"}
    assert decode_failure(b"") == VerbFailure()
    assert decode_failure(b"\x93not json") == VerbFailure()
    assert decode_failure(b'{"text": "a response"}') == VerbFailure()
