"""Building a request's trace from its timeline events."""

from __future__ import annotations

from typing import Any

from ftl.devserver.console.trace import TraceNode, build_trace
from ftl.devserver.timeline import TimelineEvent

T = 1_000.0


def event(
    kind: str, module: str, verb: str, at: float, ms: float | None = None, **rest: Any
) -> TimelineEvent:
    return TimelineEvent(
        kind=kind, time=T + at, module=module, verb=verb, request_id="req", duration_ms=ms, **rest
    )


def shape(trace_rows: list[tuple[int, TraceNode]]) -> list[tuple[int, str]]:
    return [(depth, f"{node.event.kind}:{node.name}") for depth, node in trace_rows]


def test_ingress_wraps_the_call_it_routed_and_callers_wrap_callees() -> None:
    events = [
        event("call", "a", "x", 0.001, 5.0, id=2),
        event("call", "b", "y", 0.002, 1.0, data={"caller": "a.x"}, id=1),
        event("log", "b", "y", 0.0025, level="info", message="inside y", id=3),
        event("log", "a", "x", 0.004, level="info", message="after y", id=4),
        event("ingress", "a", "x", 0.007, 7.0, id=5),
    ]
    trace = build_trace("req", reversed(events))
    assert shape(trace.rows()) == [
        (0, "ingress:a.x"),
        (1, "call:a.x"),
        (2, "call:b.y"),
        (3, "log:b.y"),
        (2, "log:a.x"),
    ]
    assert trace.event_count == 5
    assert abs(trace.start - T) < 1e-9  # the ingress began 7 ms before it was recorded
    assert abs(trace.duration_ms - 7.0) < 1e-6
    ingress = trace.roots[0]
    assert trace.offset_percent(ingress) == 0.0
    assert abs(trace.width_percent(ingress) - 100.0) < 1e-6
    callee = ingress.children[0].children[0]
    assert abs(trace.offset_percent(callee) - 100 * 2 / 7) < 1e-6


def test_repeated_calls_nest_under_the_span_that_was_running() -> None:
    events = [
        event("call", "a", "x", 0.000, 10.0, id=1),
        event("call", "b", "y", 0.001, 1.0, data={"caller": "a.x"}, id=2),
        event("call", "a", "x", 0.020, 10.0, id=3),
        event("call", "b", "y", 0.021, 1.0, data={"caller": "a.x"}, id=4),
    ]
    trace = build_trace("req", events)
    assert [(len(r.children), r.children[0].event.id) for r in trace.roots] == [(1, 2), (1, 4)]


def test_orphans_and_point_events_are_roots() -> None:
    events = [
        event(
            "call", "b", "y", 0.0, None, data={"caller": "gone.z"}, level="error", message="not live", id=1
        ),
        event("log", "c", "w", 0.1, level="warn", message="no span", id=2),
        event("cron", "c", "w", 0.2, id=3),
    ]
    trace = build_trace("req", events)
    assert shape(trace.rows()) == [(0, "call:b.y"), (0, "log:c.w"), (0, "cron:c.w")]
    assert trace.roots[0].failed
    assert trace.roots[0].start == trace.roots[0].end


def test_a_self_calling_verb_never_makes_a_cycle() -> None:
    events = [
        event("call", "a", "x", 0.000, 3.0, data={"caller": "a.x"}, id=1),
        event("call", "a", "x", 0.001, 1.0, data={"caller": "a.x"}, id=2),
    ]
    trace = build_trace("req", events)
    assert shape(trace.rows()) == [(0, "call:a.x"), (1, "call:a.x")]


def test_no_events_is_an_empty_trace() -> None:
    trace = build_trace("req", [])
    assert trace.roots == [] and trace.event_count == 0 and trace.duration_ms == 0.0


def test_topic_deliveries_hang_under_the_publishing_module_span() -> None:
    events = [
        event("ingress", "shop", "place", 0.010, 10.0, id=6),
        event("call", "shop", "place", 0.001, 8.0, id=1),
        event("call", "mail", "audit", 0.002, 1.0, id=2, data={"caller": "shop.place"}),
        # delivered after the publisher returned, under the same request id
        event("call", "mail", "notify", 0.012, 2.0, id=3, data={"caller": "topic:shop.orders"}),
        event("call", "cron", "tick", 0.013, 1.0, id=4, data={"caller": "topic:elsewhere.news"}),
    ]
    trace = build_trace("req", events)
    assert shape(trace.rows()) == [
        (0, "ingress:shop.place"),
        (1, "call:shop.place"),
        (2, "call:mail.audit"),
        (2, "call:mail.notify"),
        (0, "call:cron.tick"),  # no span of the topic's module in this request: a root
    ]
